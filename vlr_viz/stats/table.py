"""A results table of paired differences against a baseline: one row per (group, method), Δ with its
t-interval across seeds, paired t and Wilcoxon p-values, and Holm's adjustment over every cell of the table.

A cell that cannot be tested (one seed, a method missing seeds the baseline has, a NaN metric) gets NaN numbers and
a ``note`` with the reason, so it reads "n/a" instead of showing a misleading p-value; it is left out of Holm's
family.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .multiple import holm
from .paired import paired_comparison

COLUMNS = ("n", "mean_baseline", "mean_method", "mean_diff", "ci_low", "ci_high", "p_ttest", "p_wilcoxon",
           "p_holm", "significant", "note")


def _seed_list(seeds) -> str:
    return ", ".join(str(s) for s in sorted(seeds))


def _per_seed(part: pd.DataFrame, seed: str, value: str, what: str) -> pd.Series:
    dup = part[seed][part[seed].duplicated()]
    if len(dup):
        raise ValueError(f"{what}: seed {dup.iloc[0]} appears more than once; give one value per seed")
    return part.set_index(seed)[value]


def _cell(base: pd.Series, meth: pd.Series, confidence: float) -> dict:
    """Paired statistics of one cell, or NaNs and the reason it has none."""
    empty = {k: np.nan for k in COLUMNS if k not in ("n", "significant", "note")}
    n = len(base)
    if set(base.index) != set(meth.index):
        return {**empty, "n": 0, "note": f"n/a: seeds differ (baseline {_seed_list(base.index)}; method "
                                         f"{_seed_list(meth.index)})"}
    seeds = sorted(base.index)
    a, b = meth.loc[seeds].to_numpy(float), base.loc[seeds].to_numpy(float)
    bad = [s for s, x, y in zip(seeds, a, b) if not (np.isfinite(x) and np.isfinite(y))]
    if bad:
        return {**empty, "n": n, "note": f"n/a: NaN metric on seed(s) {_seed_list(bad)}"}
    if n < 2:
        return {**empty, "n": n, "mean_baseline": float(b.mean()), "mean_method": float(a.mean()),
                "mean_diff": float((a - b).mean()), "note": f"n/a: {n} seed, no paired test (needs 2 or more)"}
    r = paired_comparison(a, b, confidence)
    return {"n": n, "mean_baseline": r["mean_b"], "mean_method": r["mean_a"], "mean_diff": r["mean_diff"],
            "ci_low": r["ci_low"], "ci_high": r["ci_high"], "p_ttest": r["p_ttest"], "p_wilcoxon": r["p_wilcoxon"],
            "note": f"n/a: {r['note']}" if np.isnan(r["p_ttest"]) else r["note"]}


def paired_table(df: pd.DataFrame, baseline: str = "baseline", *, by: Sequence[str] = ("condition", "column"),
                 method: str = "method", seed: str = "seed", value: str = "value", confidence: float = 0.95,
                 alpha: float = 0.05) -> pd.DataFrame:
    """Every method against ``baseline`` within each group ``by``, paired by ``seed``.

    Args:
        df: tidy rows, one per (group, method, seed), with columns ``by``, ``method``, ``seed`` and ``value``.
        baseline: the reference method (its rows must exist in every group).
        confidence: level of the t-interval of the mean difference.
        alpha: family-wise error rate: a cell is ``significant`` when its Holm-adjusted paired-t p-value
            (adjusted over all testable cells of the table) is at most ``alpha``.

    Returns:
        one row per (group, non-baseline method), groups and methods in order of first appearance, with columns
        ``by``, ``method``, then ``n`` (paired seeds), ``mean_baseline``, ``mean_method``, ``mean_diff`` (method −
        baseline), ``ci_low``, ``ci_high``, ``p_ttest``, ``p_wilcoxon``, ``p_holm``, ``significant`` and ``note``
        ("" or "n/a: <reason>"). ``attrs`` holds ``confidence``, ``alpha``, ``family_size`` and ``baseline``.

    Raises ``ValueError`` for missing columns, a group without the baseline, or a seed repeated within a cell.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame; got {type(df).__name__}")
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*by, method, seed, value] if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, df.columns))}")
    if df.empty:
        raise ValueError("df has no rows")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha!r}")
    rows = []
    for key, group in df.groupby(by, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        where = ", ".join(f"{c}={k!r}" for c, k in zip(by, key))
        base_rows = group[group[method] == baseline]
        if base_rows.empty:
            raise ValueError(f"group {where} has no rows of the baseline {baseline!r}")
        base = _per_seed(base_rows, seed, value, f"{where}, method {baseline!r}")
        for name in pd.unique(group[method]):
            if name == baseline:
                continue
            meth = _per_seed(group[group[method] == name], seed, value, f"{where}, method {name!r}")
            rows.append({**dict(zip(by, key)), method: name, **_cell(base, meth, confidence)})
    out = pd.DataFrame(rows, columns=[*by, method, *COLUMNS])
    out["p_holm"] = holm(out["p_ttest"].to_numpy(float))
    out["significant"] = out["p_holm"] <= alpha
    out.attrs.update(confidence=confidence, alpha=alpha, baseline=baseline,
                     family_size=int(np.isfinite(out["p_ttest"].to_numpy(float)).sum()))
    return out


def format_cell(row, decimals: int = 2, marker: str = "*") -> str:
    """``"+1.23 [+0.45, +2.01]*"``: Δ, its interval and ``marker`` when significant after Holm; ``"n/a (...)"``
    when the cell has no test (with Δ first when there is one)."""
    d = row["mean_diff"]
    if isinstance(row["note"], str) and row["note"].startswith("n/a"):
        reason = row["note"][len("n/a: "):]
        return f"{d:+.{decimals}f}, n/a ({reason})" if np.isfinite(d) else f"n/a ({reason})"
    star = marker if row["significant"] else ""
    return f"{d:+.{decimals}f} [{row['ci_low']:+.{decimals}f}, {row['ci_high']:+.{decimals}f}]{star}"


def paired_cells(table: pd.DataFrame, index: Sequence[str] = ("condition", "method"), columns: str = "column",
                 decimals: int = 2, marker: str = "*") -> pd.DataFrame:
    """`paired_table` pivoted for display: rows ``index``, one column per ``columns`` value, `format_cell` text."""
    text = table.assign(cell=[format_cell(r, decimals, marker) for _, r in table.iterrows()])
    return text.pivot_table(index=list(index), columns=columns, values="cell", aggfunc="first", sort=False)


def interval_cells(frame: pd.DataFrame, index: Sequence[str] = ("condition", "method"), columns: str = "metric",
                   decimals: int = 2) -> pd.DataFrame:
    """Any frame of differences with ``mean_diff``, ``ci_low``, ``ci_high`` (e.g. `paired_bootstrap` rows of
    `vlr_viz.experiments.study.bootstrap_against_baseline`) pivoted for display as ``"+1.23 [+0.45, +2.01]"`` text."""
    missing = [c for c in [*index, columns, "mean_diff", "ci_low", "ci_high"] if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s) {', '.join(missing)}")
    text = frame.assign(cell=[f"{d:+.{decimals}f} [{lo:+.{decimals}f}, {hi:+.{decimals}f}]"
                              for d, lo, hi in zip(frame["mean_diff"], frame["ci_low"], frame["ci_high"])])
    return text.pivot_table(index=list(index), columns=columns, values="cell", aggfunc="first", sort=False)


def table_record(table: pd.DataFrame, by: Sequence[str] = ("condition", "method", "column")) -> dict:
    """``{"<condition>/<method>/<column>": {"n", "diff", "ci_low", "ci_high", "p_ttest", "p_wilcoxon", "p_holm",
    "significant", "note"}}`` of a `paired_table`, JSON-ready (NaN becomes None) for `vlr_viz.notebook.recording.record`."""
    def plain(x):
        if isinstance(x, (bool, np.bool_)):
            return bool(x)
        if isinstance(x, str):
            return x
        x = float(x)
        return x if np.isfinite(x) else None

    out = {}
    for _, r in table.iterrows():
        out["/".join(str(r[c]) for c in by)] = {
            "n": int(r["n"]), "diff": plain(r["mean_diff"]), "ci_low": plain(r["ci_low"]),
            "ci_high": plain(r["ci_high"]), "p_ttest": plain(r["p_ttest"]), "p_wilcoxon": plain(r["p_wilcoxon"]),
            "p_holm": plain(r["p_holm"]), "significant": bool(r["significant"]), "note": r["note"]}
    return out
