"""Verdict sentences generated from a `paired_table`: what a table of paired differences shows, in words.

Words follow the numbers: a difference is called a gain or a loss only when its Holm-adjusted paired t-test is
significant; everything else is "not shown either way", with its range of Δ, and untestable cells are named with
their reason. Ranges are ``Δ`` (method − baseline) of the cells concerned.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def cell_outcome(diff: float, significant: bool, note, lower_is_better: bool = False) -> str:
    """What one cell of a `paired_table` shows: ``"n/a"`` (no test, its note says why), ``"unclear"`` (not
    significant after Holm), else ``"gain"`` or ``"loss"`` by the sign of Δ (method − baseline)."""
    if isinstance(note, str) and note.startswith("n/a"):
        return "n/a"
    if not significant:
        return "unclear"
    return "gain" if (diff < 0 if lower_is_better else diff > 0) else "loss"


def _outcome(row, column: str, lower_is_better) -> str:
    return cell_outcome(row["mean_diff"], row["significant"], row["note"], row[column] in lower_is_better)


def _span(deltas, decimals: int) -> str:
    lo, hi = float(np.min(deltas)), float(np.max(deltas))
    return f"{lo:+.{decimals}f}" if np.isclose(lo, hi) else f"{lo:+.{decimals}f} to {hi:+.{decimals}f}"


def _by_column(cells: pd.DataFrame, column: str, group: str, decimals: int, with_groups: bool = True) -> str:
    parts = []
    for col, part in cells.groupby(column, sort=False):
        where = f" ({', '.join(map(str, pd.unique(part[group])))})" if with_groups else ""
        parts.append(f"{col}{where} {_span(part['mean_diff'], decimals)}")
    return "; ".join(parts)


def table_caption(table: pd.DataFrame, noun: str = "seeds") -> str:
    """One sentence saying what the cells of a `paired_table` mean (Δ, interval, test, Holm's family)."""
    a = table.attrs
    n = sorted(set(int(x) for x in table["n"] if x > 0))
    seeds = f"{n[0]} {noun}" if len(n) == 1 else (f"{n[0]}-{n[-1]} {noun}" if n else f"no paired {noun}")
    return (f"Δ = method − {a.get('baseline', 'baseline')}, mean of the per-seed differences over {seeds}, with its "
            f"{100 * a.get('confidence', 0.95):g} % t-interval; * = paired t-test significant after Holm's "
            f"adjustment over the {a.get('family_size', 0)} tested cells (family-wise α = {a.get('alpha', 0.05):g}).")


def verdict_sentences(table: pd.DataFrame, *, group: str = "condition", column: str = "column",
                      method: str = "method", lower_is_better: Sequence = (), decimals: int = 2) -> list[str]:
    """One sentence per (group, method) of a `paired_table`: significant gains and losses after Holm, with Δ and
    the interval; what is not shown either way; cells without a test and why."""
    for c in (group, column, method, "mean_diff", "significant", "note"):
        if c not in table.columns:
            raise ValueError(f"table lacks column {c!r}: pass the output of vlr_viz.stats.paired_table")
    out = []
    for (g, m), cells in table.groupby([group, method], sort=False):
        kinds = {"gain": [], "loss": [], "unclear": [], "n/a": []}
        for _, r in cells.iterrows():
            kinds[_outcome(r, column, lower_is_better)].append(r)

        def fmt(rows, with_ci: bool) -> str:
            if with_ci:
                return ", ".join(f"{r[column]} {r['mean_diff']:+.{decimals}f} [{r['ci_low']:+.{decimals}f}, "
                                 f"{r['ci_high']:+.{decimals}f}]" for r in rows) or "nothing"
            return ", ".join(f"{r[column]} {r['mean_diff']:+.{decimals}f}" for r in rows) or "nothing"

        text = (f"{g}, {m} vs {table.attrs.get('baseline', 'baseline')}: better after Holm: "
                f"{fmt(kinds['gain'], True)}; worse after Holm: {fmt(kinds['loss'], True)}; "
                f"not shown either way: {fmt(kinds['unclear'], False)}")
        if kinds["n/a"]:
            text += "; no test: " + ", ".join(f"{r[column]} ({r['note'][len('n/a: '):]})" for r in kinds["n/a"])
        out.append(text + ".")
    return out


def method_verdicts(table: pd.DataFrame, *, group: str = "condition", column: str = "column",
                    method: str = "method", lower_is_better: Sequence = (), decimals: int = 2) -> dict[str, str]:
    """``{method: one sentence}`` summarising a method over every group of a `paired_table`: where it is better
    or worse than the baseline after Holm (per column: the groups and the range of Δ), and what is not shown
    either way."""
    out = {}
    for m, cells in table.groupby(method, sort=False):
        outcome = np.array([_outcome(r, column, lower_is_better) for _, r in cells.iterrows()])
        total = int((outcome != "n/a").sum())
        parts = []
        for kind, label in (("gain", "better"), ("loss", "worse")):
            sel = cells[outcome == kind]
            if len(sel):
                parts.append(f"{label} than the baseline in {len(sel)} of {total} tested cells: "
                             f"{_by_column(sel, column, group, decimals)}")
        if not (outcome == "gain").any() and not (outcome == "loss").any():
            parts.append(f"no difference from the baseline is shown in any of its {total} tested cells")
        sel = cells[outcome == "unclear"]
        if len(sel) and len(sel) < total:
            parts.append(f"not shown either way: {_by_column(sel, column, group, decimals)}")
        elif len(sel):
            parts.append(f"Δ {_span(sel['mean_diff'], decimals)}")
        sel = cells[outcome == "n/a"]
        if len(sel):
            reasons = "; ".join(dict.fromkeys(r["note"][len("n/a: "):] for _, r in sel.iterrows()))
            parts.append(f"{len(sel)} cell(s) without a test ({reasons})")
        out[m] = f"{m}: " + "; ".join(parts) + "."
    return out


def opq_sentences(versus: pd.DataFrame, method: str = "DCMQ") -> list[str]:
    """One sentence per code length of a `vlr_viz.experiments.dcmq.versus_opq` frame: whether the learned codes beat
    FAISS OPQ (mean RSUM at least OPQ's and mean category mAP above it), with both differences."""
    return [f"{int(r.bits)} bits: {method} {'beats' if r.beats_opq else 'does not beat'} FAISS OPQ "
            f"(RSUM {r.rsum_gain:+.2f}, mAP {r.map_gain:+.2f})." for r in versus.itertuples()]
