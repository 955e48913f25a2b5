"""Figures of modal imbalance: how strong each modality is in the teachers and in the student's towers, the
imbalance index over degradation severities, the modality gap, and which teacher the fusion weight λ trusts as
one modality degrades.

Inputs are tidy ``pandas.DataFrame``s (one row per measurement; repeated rows, e.g. seeds, are averaged and their
sample standard deviation drawn as error bars). `strength_frame` turns a `vlr_viz.imbalance.diagnose` result
into such rows.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vlr_viz.viz.colors import series_color

_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def _frame(df, required: Sequence[str], name: str = "df") -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame; got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, df.columns))}")
    if df.empty:
        raise ValueError(f"{name} has no rows")
    return df


def _only(df: pd.DataFrame, column: str, chosen, what: str) -> tuple[pd.DataFrame, object]:
    """Restrict ``df`` to ``column == chosen``; with ``chosen=None`` the column must hold a single value."""
    if column not in df.columns:
        return df, chosen
    values = list(pd.unique(df[column]))
    if chosen is None:
        if len(values) != 1:
            raise ValueError(f"df holds several {what}s ({', '.join(map(str, values))}); choose one with {column}=")
        return df, values[0]
    if chosen not in values:
        raise ValueError(f"{column}={chosen!r} is not in df ({', '.join(map(str, values))})")
    return df[df[column] == chosen], chosen


def _mean_std(df: pd.DataFrame, keys: list[str], value: str = "value") -> pd.DataFrame:
    g = df.groupby(keys, sort=False)[value]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def strength_frame(diagnosis: Mapping, model: str = "student", relevance: str = "category") -> pd.DataFrame:
    """Tidy rows ``model, modality, metric, relevance, value`` from ``diagnose(...)["strength"]``.

    The teacher rows get ``model="teacher"``, the student towers ``model=model`` (e.g. ``"baseline"``).
    """
    strength = diagnosis.get("strength") if isinstance(diagnosis, Mapping) else None
    if not isinstance(strength, Mapping):
        raise ValueError("diagnosis must be the dict returned by vlr_viz.imbalance.diagnose (with 'strength')")
    rows = []
    for key, scores in strength.items():
        who, _, modality = key.partition("_")
        for metric, value in scores.items():
            rows.append({"model": "teacher" if who == "teacher" else model, "modality": modality,
                         "metric": metric, "relevance": relevance, "value": float(value)})
    return pd.DataFrame(rows)


def modality_strength_bars(df: pd.DataFrame, metric: str | None = None, relevance: str | None = None,
                           title: str | None = None) -> go.Figure:
    """Grouped bars of per-modality strength: for each modality (x), one bar per model (teacher, student towers).

    Args:
        df: rows with columns ``model``, ``modality`` (``"image"``/``"text"``), ``value``, and optionally
            ``metric`` and ``relevance`` (e.g. ``strength_frame`` output or ``vlr_viz.eval.evaluate`` rows).
        metric: which metric to plot when ``df`` holds several; named in the y-axis title.
        relevance: which relevance (``"category"``, ``"rouge-l"``) the scores use; required when ``df`` has no
            single ``relevance``; named in the y-axis title (docs/method.md, F2: ROUGE-L favours the text side).

    Bars show the mean over repeated rows, error bars the sample standard deviation (n > 1).
    """
    df = _frame(df, ["model", "modality", "value"])
    df, metric = _only(df, "metric", metric, "metric")
    df, relevance = _only(df, "relevance", relevance, "relevance")
    if relevance is None:
        raise ValueError("relevance must be given (or df must have a single-valued 'relevance' column)")
    stats = _mean_std(df, ["model", "modality"])
    modalities = list(pd.unique(stats["modality"]))
    fig = go.Figure()
    for model in pd.unique(stats["model"]):
        s = stats[stats["model"] == model].set_index("modality").reindex(modalities)
        fig.add_trace(go.Bar(
            x=[f"{m}" for m in modalities], y=s["mean"], name=str(model), marker_color=series_color(model),
            error_y=dict(type="data", array=s["std"], visible=bool((s["count"] > 1).any())),
            customdata=np.stack([s["std"], s["count"]], axis=-1),
            hovertemplate=f"<b>{model}</b> · %{{x}}<br>{metric or 'value'} %{{y:.2f}} ± %{{customdata[0]:.2f}} "
                          "(n=%{customdata[1]})<extra></extra>"))
    ylabel = f"{metric or 'strength'} ({relevance} relevance)"
    fig.update_layout(barmode="group", template="plotly_white", title=title or "Per-modality strength: "
                      "teachers vs student towers", xaxis_title="modality (single-modal retrieval)",
                      yaxis_title=ylabel, legend_title="model")
    return fig


def imbalance_index_curve(df: pd.DataFrame, value: str | None = None, title: str | None = None) -> go.Figure:
    """Imbalance index ``(S_img - S_txt) / (S_img + S_txt)`` against degradation severity.

    Args:
        df: rows with ``kind`` (degradation), ``severity``, ``model`` and the index in ``value`` (or ``index``).
            Repeated rows (seeds) are averaged, with a ±std band as error bars.
        value: the column holding the index (default ``"value"``, else ``"index"``).

    One line per (kind, model): colour by kind, dash by model. The 0 line is balance; positive means the text
    side is weaker, negative the image side (`vlr_viz.imbalance.imbalance_index`).
    """
    if value is None:
        value = "value" if isinstance(df, pd.DataFrame) and "value" in df.columns else "index"
    df = _frame(df, ["kind", "severity", "model", value])
    stats = _mean_std(df.rename(columns={value: "_v"}), ["kind", "model", "severity"], "_v")
    stats = stats.sort_values(["kind", "model", "severity"], kind="stable")
    models = list(pd.unique(df["model"]))
    fig = go.Figure()
    for (kind, model), s in stats.groupby(["kind", "model"], sort=False):
        fig.add_trace(go.Scatter(
            x=s["severity"], y=s["mean"], mode="lines+markers", name=f"{kind} · {model}",
            line=dict(color=series_color(kind), dash=_DASHES[models.index(model) % len(_DASHES)]),
            error_y=dict(type="data", array=s["std"], visible=bool((s["count"] > 1).any()), thickness=1),
            customdata=np.stack([s["std"], s["count"]], axis=-1),
            hovertemplate=f"<b>{kind}</b> · {model}<br>severity %{{x:.2f}}<br>index %{{y:+.3f}} ± "
                          "%{customdata[0]:.3f} (n=%{customdata[1]})<extra></extra>"))
    reach = float(np.nanmax(np.abs(stats["mean"].to_numpy()) + stats["std"].to_numpy())) if len(stats) else 0.0
    reach = max(0.05, 1.15 * reach)
    fig.add_hline(y=0, line=dict(color="#444", width=1), annotation_text="balanced",
                  annotation_position="bottom right")
    fig.add_annotation(xref="paper", yref="paper", x=0.01, y=0.99, text="▲ text weaker", showarrow=False,
                       xanchor="left", yanchor="top", font=dict(color=series_color("text")))
    fig.add_annotation(xref="paper", yref="paper", x=0.01, y=0.01, text="▼ image weaker", showarrow=False,
                       xanchor="left", yanchor="bottom", font=dict(color=series_color("image")))
    fig.update_layout(template="plotly_white", title=title or "Imbalance index across degradation severity",
                      xaxis_title="severity", yaxis_title="imbalance index (S_img − S_txt)/(S_img + S_txt)",
                      yaxis_range=[-reach, reach], legend_title="degradation · model")
    return fig


def modality_gap_bars(df, by: str | None = "condition", title: str | None = None) -> go.Figure:
    """Modality gap ``‖mean norm(v) − mean norm(t)‖`` (Liang et al., NeurIPS 2022) per model.

    Args:
        df: rows with ``model`` and ``value`` (the gap), optionally a grouping column ``by`` (e.g. the
            degradation setting) used for the x axis; or a dict ``{model: gap}``.
        by: x-axis column; when missing (or ``None``) the x axis is the model.
    """
    if isinstance(df, Mapping):
        df = pd.DataFrame({"model": list(df), "value": [float(v) for v in df.values()]})
    df = _frame(df, ["model", "value"])
    group = by if by is not None and by in df.columns else None
    keys = [group, "model"] if group else ["model"]
    stats = _mean_std(df, keys)
    fig = go.Figure()
    xs = list(pd.unique(stats[group])) if group else None
    for model in pd.unique(stats["model"]):
        s = stats[stats["model"] == model]
        if group:
            s = s.set_index(group).reindex(xs)
        fig.add_trace(go.Bar(
            x=[str(x) for x in xs] if group else [str(model)], y=s["mean"], name=str(model),
            marker_color=series_color(model),
            error_y=dict(type="data", array=s["std"], visible=bool((s["count"] > 1).any())),
            hovertemplate=f"<b>{model}</b><br>%{{x}}<br>gap %{{y:.3f}}<extra></extra>"))
    fig.update_layout(barmode="group", template="plotly_white", title=title or "Modality gap in the common space",
                      xaxis_title=group or "model", yaxis_title="modality gap ‖μ_img − μ_txt‖₂",
                      legend_title="model")
    return fig


def _level_tick(level: str, kind: str, severity: float) -> str:
    return level if level == "clean" else f"{level}<br>{kind}@{severity:.2f}"


def lambda_severity_figure(sweep: pd.DataFrame, learned: pd.DataFrame | None = None,
                           title: str | None = None) -> go.Figure:
    """λ (weight of the text teacher) against degradation level, images degraded (left) and captions degraded
    (right).

    Args:
        sweep: `vlr_viz.experiments.study.reliability_sweep` rows (``degraded``, ``level``, ``kind``, ``severity``,
            ``reference``, ``lam``): one line per reliability ``reference``.
        learned: optional λ of trained runs (rows ``degraded`` — ``"image"``, ``"text"`` or ``"none"`` for clean
            data, drawn in both panels —, ``level``, ``method``, ``lam``; `vlr_viz.experiments.study.run_lambdas`), drawn as
            points with mean ± std over seeds.

    Above the dotted 0.5 line the fused teacher relation trusts the text teacher more, below it the vision teacher.
    """
    need = ["degraded", "level", "kind", "severity", "reference", "lam"]
    df = _frame(sweep, need, "sweep")
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=("images degraded", "captions degraded"))
    values = [0.45, 0.55]
    for col, degraded in enumerate(("image", "text"), start=1):
        part = df[df["degraded"] == degraded]
        ticks = {lv: _level_tick(lv, k, sv) for lv, k, sv in zip(part["level"], part["kind"], part["severity"])}
        for ref, s in part.groupby("reference", sort=False):
            fig.add_trace(go.Scatter(
                x=[ticks[lv] for lv in s["level"]], y=s["lam"], mode="lines+markers", name=f"reliability ({ref})",
                legendgroup=f"reliability-{ref}", showlegend=col == 1,
                line=dict(color=series_color(f"reliability {ref}"), dash="solid" if ref == "labels" else "dash"),
                hovertemplate=f"reliability ({ref})<br>%{{x}}<br>λ %{{y:.3f}}<extra></extra>"), row=1, col=col)
            values += list(s["lam"])
        if learned is not None and len(learned):
            own = _frame(learned, ["degraded", "level", "method", "lam"], "learned")
            own = own[own["degraded"].isin([degraded, "none"]) & own["level"].isin(list(ticks))]
            stats = own.groupby(["method", "level"], sort=False)["lam"].agg(["mean", "std"]).reset_index()
            for method, s in stats.groupby("method", sort=False):
                fig.add_trace(go.Scatter(
                    x=[ticks[lv] for lv in s["level"]], y=s["mean"], mode="markers", name=f"{method} (trained)",
                    legendgroup=f"trained-{method}", showlegend=col == 1,
                    marker=dict(size=11, symbol="x", color=series_color(method)),
                    error_y=dict(type="data", array=s["std"].fillna(0.0), thickness=1),
                    hovertemplate=f"{method}<br>%{{x}}<br>λ %{{y:.4f}}<extra></extra>"), row=1, col=col)
                values += list(s["mean"])
        fig.add_hline(y=0.5, line=dict(color="#999", dash="dot"), row=1, col=col)
    fig.update_yaxes(range=[min(values) - 0.02, max(values) + 0.02], title_text="λ (weight of the text teacher)",
                     row=1, col=1)
    fig.update_layout(template="plotly_white", height=480, legend_title="λ",
                      legend=dict(orientation="h", yanchor="top", y=-0.3, x=0),
                      title=title or "Fusion weight λ against degradation (training split): above 0.5 trusts the "
                                     "text teacher")
    return fig
