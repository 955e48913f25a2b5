"""Result tables: baseline vs rebalanced retrieval with deltas (DataFrame, Styler, plotly Table), mean ± std
over seeds as a figure (computed by `vlr_viz.stats.mean_spread_table`), and paired differences with their
intervals (`paired_difference_figure`, from `vlr_viz.stats.paired_table`).

Inputs are tidy rows as `vlr_viz.eval.evaluate` returns them: ``model, task, metric, relevance, value`` (plus
any other columns such as ``seed``, which are averaged over).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from vlr_viz.stats.spread import mean_spread_table
from vlr_viz.viz.colors import series_color, series_label

KEY_COLUMNS = ("task", "metric", "relevance")
IMPROVED, WORSENED = "#D9F0D3", "#F4CBC6"


def lower_is_better(metric: str) -> bool:
    """Ranks (``medr``, ``meanr``, "... rank") improve downwards; recalls, NDCG and mAP upwards."""
    name = str(metric).lower()
    return "rank" in name or name.endswith(("medr", "meanr"))


def _check(df, name: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame; got {type(df).__name__}")
    for col in ("metric", "value"):
        if col not in df.columns:
            raise ValueError(f"{name} lacks column {col!r}; it has {', '.join(map(str, df.columns))}")
    if df.empty:
        raise ValueError(f"{name} has no rows")
    if "model" in df.columns and df["model"].nunique() > 1:
        raise ValueError(f"{name} holds several models ({', '.join(map(str, pd.unique(df['model'])))}); "
                         "pass one model per table side")
    return df


def _summarise(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    g = df.groupby(keys, sort=False, dropna=False)["value"]
    return g.agg(["mean", "std", "count"])


def delta_tint(delta: float, better: bool, decimals: int) -> str | None:
    """The colour of a Δ cell: `IMPROVED` or `WORSENED`, or ``None`` when Δ is missing or shows as zero at
    ``decimals`` (a printed ``-0.00`` or ``+0.00`` tells no direction, so it gets no colour either)."""
    if pd.isna(delta) or float(f"{delta:.{decimals}f}") == 0:
        return None
    return IMPROVED if better else WORSENED


def retrieval_table(df_baseline: pd.DataFrame, df_rebalanced: pd.DataFrame,
                    names: Sequence[str] = ("baseline", "rebalanced"), metrics: Sequence[str] | None = None,
                    styled: bool = False, decimals: int = 2):
    """One row per (task, metric, relevance): both methods' mean value, ``Δ = rebalanced − baseline``, and
    ``better`` (Δ improves: up for scores, down for ranks). With several rows per key (seeds), adds the sample
    standard deviations ``"<name> std"`` and the counts.

    ``metrics``: keep only these metric names (in this order of preference for display, rows keep data order).
    ``styled=True`` returns a ``pandas.io.formats.style.Styler`` that colours improvements green and losses red.
    """
    a, b = _check(df_baseline, "df_baseline"), _check(df_rebalanced, "df_rebalanced")
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"names must be two distinct labels; got {names!r}")
    keys = [k for k in KEY_COLUMNS if k in a.columns or k in b.columns]
    # a missing key (e.g. no relevance for cross-modal recall) becomes "" so that both sides join on it
    a = a.assign(**{k: a[k].fillna("").astype(str) if k in a.columns else "" for k in keys})
    b = b.assign(**{k: b[k].fillna("").astype(str) if k in b.columns else "" for k in keys})
    if metrics is not None:
        unknown = [m for m in metrics if m not in set(a["metric"]) | set(b["metric"])]
        if unknown:
            raise ValueError(f"metrics {unknown} are in neither table")
        a, b = a[a["metric"].isin(metrics)], b[b["metric"].isin(metrics)]
    sa, sb = _summarise(a, keys), _summarise(b, keys)
    table = sa.join(sb, how="outer", lsuffix="_a", rsuffix="_b", sort=False)
    order = list(sa.index) + [k for k in sb.index if k not in set(sa.index)]
    table = table.reindex(order)
    out = pd.DataFrame(index=table.index)
    out[names[0]] = table["mean_a"]
    out[names[1]] = table["mean_b"]
    out["Δ"] = table["mean_b"] - table["mean_a"]
    metric_of = out.index.get_level_values("metric") if isinstance(out.index, pd.MultiIndex) else out.index
    sign = np.where([lower_is_better(m) for m in metric_of], -1.0, 1.0)
    out["better"] = (sign * out["Δ"].to_numpy()) > 0
    if (table["count_a"].max() > 1) or (table["count_b"].max() > 1):
        out[f"{names[0]} std"] = table["std_a"]
        out[f"{names[1]} std"] = table["std_b"]
        out["n"] = [f"{int(x) if x == x else 0}/{int(y) if y == y else 0}"
                    for x, y in zip(table["count_a"], table["count_b"])]
    if not styled:
        return out

    def colour(row):
        tint = delta_tint(row["Δ"], row["better"], decimals)
        return [f"background-color: {tint}" if col == "Δ" and tint else "" for col in row.index]

    numeric = [c for c in out.columns if c not in ("better", "n")]
    return out.style.apply(colour, axis=1).format({c: f"{{:+.{decimals}f}}" if c == "Δ" else f"{{:.{decimals}f}}"
                                                    for c in numeric}, na_rep="–")


def retrieval_table_figure(df_baseline: pd.DataFrame, df_rebalanced: pd.DataFrame,
                           names: Sequence[str] = ("baseline", "rebalanced"), metrics: Sequence[str] | None = None,
                           decimals: int = 2, title: str | None = None) -> go.Figure:
    """The `retrieval_table` as a plotly ``Table``: Δ cells green where the rebalanced model improves, red where
    it loses; header cells of the two methods in their series colours."""
    t = retrieval_table(df_baseline, df_rebalanced, names=names, metrics=metrics)
    keys = list(t.index.names) if isinstance(t.index, pd.MultiIndex) else [t.index.name or "metric"]
    flat = t.reset_index()
    fmt = f"{{:.{decimals}f}}"

    def cells(col: str) -> list[str]:
        vals = flat[col]
        if col == "Δ":
            return [("–" if pd.isna(v) else f"{v:+.{decimals}f}") for v in vals]
        if col in names or col.endswith(" std"):
            return [("–" if pd.isna(v) else fmt.format(v)) for v in vals]
        return ["" if pd.isna(v) else str(v) for v in vals]

    shown = keys + [c for c in t.columns if c != "better"]
    delta_fill = [delta_tint(d, b, decimals) or "white" for b, d in zip(flat["better"], flat["Δ"])]
    fill = [["white"] * len(flat) if c != "Δ" else delta_fill for c in shown]
    header_fill = [series_color(c) if c in names else "#595959" for c in shown]
    fig = go.Figure(go.Table(
        header=dict(values=[f"<b>{c}</b>" for c in shown], fill_color=header_fill, font=dict(color="white"),
                    align="left"),
        cells=dict(values=[cells(c) for c in shown], fill_color=fill, align="left", height=24)))
    fig.update_layout(title=title or f"Retrieval: {names[1]} vs {names[0]} (Δ = {names[1]} − {names[0]})",
                      template="plotly_white", height=120 + 26 * len(flat), margin=dict(l=10, r=10, t=60, b=10))
    return fig


def method_comparison_figure(df: pd.DataFrame, x: str = "condition", color: str = "method", facet: str = "column",
                             value: str = "value", cols: int = 3, title: str | None = None) -> go.Figure:
    """Mean ± std (over the remaining rows, e.g. seeds) of ``value`` per ``x`` and ``color``, one panel per ``facet``
    with its own y range (so differences of a point or two stay visible), points grouped side by side per ``x``."""
    from plotly.subplots import make_subplots

    stats = mean_spread_table(df, by=[facet, x, color], value=value)
    panels = list(dict.fromkeys(stats[facet]))
    rows = -(-len(panels) // cols)
    titles = [str(p).replace(" (", "<br>(") for p in panels]  # "t2t NDCG@10 (category)" on two lines
    fig = make_subplots(rows=rows, cols=min(cols, len(panels)), subplot_titles=titles, horizontal_spacing=0.08,
                        vertical_spacing=0.2)
    for k, panel in enumerate(panels):
        part = stats[stats[facet] == panel]
        for name in dict.fromkeys(stats[color]):
            sel = part[part[color] == name]
            fig.add_trace(go.Scatter(x=sel[x], y=sel["mean"], error_y=dict(type="data", array=sel["std"].fillna(0)),
                                     mode="markers", name=str(name), legendgroup=str(name), showlegend=k == 0,
                                     marker=dict(size=9, color=series_color(name)),
                                     hovertemplate=f"{name}<br>%{{x}}: %{{y:.2f}} ± %{{error_y.array:.2f}}"
                                                   "<extra></extra>"),
                          row=k // cols + 1, col=k % cols + 1)
        spread = part["std"].fillna(0)
        low, high = float((part["mean"] - spread).min()), float((part["mean"] + spread).max())
        pad = 0.15 * (high - low) or 1.0
        fig.update_yaxes(range=[low - pad, high + pad], row=k // cols + 1, col=k % cols + 1)
    fig.update_layout(title=title, scattermode="group", height=340 * rows + 100, template="plotly_white",
                      legend=dict(title=color))
    return fig


def paired_difference_figure(table: pd.DataFrame, group: str = "condition", method: str = "method",
                             facet: str = "column", cols: int = 3, title: str | None = None) -> go.Figure:
    """Δ = method − baseline with its confidence interval for every cell of a `vlr_viz.stats.paired_table`, one panel
    per ``facet`` (its own x range), one row per (``group``, ``method``). A filled marker is significant after Holm,
    an open one is not; cells without a test are listed under the figure with their reason."""
    from plotly.subplots import make_subplots

    need = [group, method, facet, "mean_diff", "ci_low", "ci_high", "significant", "note"]
    if not isinstance(table, pd.DataFrame) or table.empty or any(c not in table.columns for c in need):
        raise ValueError(f"table must be a non-empty vlr_viz.stats.paired_table with columns {need}")
    panels = list(dict.fromkeys(table[facet]))
    rows_of = list(dict.fromkeys(zip(table[group], table[method])))
    labels = [f"{g} · {m}" for g, m in rows_of]
    n_rows = -(-len(panels) // cols)
    fig = make_subplots(rows=n_rows, cols=min(cols, len(panels)), shared_yaxes=True, horizontal_spacing=0.04,
                        vertical_spacing=0.12, subplot_titles=[str(p).replace(" (", "<br>(") for p in panels])
    shown = set()
    for k, panel in enumerate(panels):
        r, c = k // cols + 1, k % cols + 1
        part = table[(table[facet] == panel) & ~table["note"].astype(str).str.startswith("n/a")]
        for name in dict.fromkeys(part[method]):
            sel = part[part[method] == name]
            y = [f"{g} · {m}" for g, m in zip(sel[group], sel[method])]
            sig = sel["significant"].to_numpy(bool)
            fig.add_trace(go.Scatter(
                x=sel["mean_diff"], y=y, mode="markers", name=str(name), legendgroup=str(name),
                showlegend=name not in shown,
                marker=dict(size=10, color=series_color(name), symbol=np.where(sig, "circle", "circle-open"),
                            line=dict(width=2, color=series_color(name))),
                error_x=dict(type="data", symmetric=False, array=sel["ci_high"] - sel["mean_diff"],
                             arrayminus=sel["mean_diff"] - sel["ci_low"], thickness=1.5),
                customdata=np.stack([sel["ci_low"], sel["ci_high"], sel["p_holm"]], axis=-1),
                hovertemplate=f"{series_label(name)}<br>%{{y}}<br>Δ %{{x:+.2f}} "
                              "[%{customdata[0]:+.2f}, %{customdata[1]:+.2f}]"
                              "<br>p (Holm) %{customdata[2]:.3g}<extra></extra>"), row=r, col=c)
            shown.add(name)
        fig.add_vline(x=0, line=dict(color="#444", width=1), row=r, col=c)
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1])
    missing = table[table["note"].astype(str).str.startswith("n/a")]
    notes = "<br>".join(f"n/a: {g} · {m} · {f}: {n[len('n/a: '):]}" for g, m, f, n in
                        zip(missing[group], missing[method], missing[facet], missing["note"]))
    if notes:
        fig.add_annotation(xref="paper", yref="paper", x=0, y=-0.08, text=notes, showarrow=False, align="left",
                           xanchor="left", yanchor="top", font=dict(size=10))
    conf = 100 * table.attrs.get("confidence", 0.95)
    fig.update_layout(template="plotly_white", height=max(360, (22 * len(labels) + 120) * n_rows),
                      legend_title=method, title=title or f"Δ vs {table.attrs.get('baseline', 'baseline')} with "
                      f"{conf:g} % t-intervals over seeds (filled: significant after Holm)")
    return fig
