"""Figures of compact codes: RSUM and mAP against the code length per method (mean ± std over seeds), and how
evenly the codewords are used.

Inputs are what :mod:`vlr_viz.experiments.dcmq` returns: its ``summary`` frame (``method, bits, bytes_per_item,
rsum, rsum_std, map, map_std``) and its DCMQ results keyed ``(supervision, bits, seed)``.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vlr_viz.code_methods import LABELS, SUPERVISION_METHOD
from vlr_viz.viz.colors import series_color

COLORS = {"dcmq": "#1B7837", "labels": "#D6604D", "faiss_pq": "#4477AA", "faiss_opq": "#762A83",
          "float": series_color("teacher")}


def _summary(summary) -> pd.DataFrame:
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(f"summary must be a pandas DataFrame; got {type(summary).__name__}")
    need = {"method", "bits", "rsum", "rsum_std", "map", "map_std"}
    if not need <= set(summary.columns):
        raise ValueError(f"summary lacks column(s) {sorted(need - set(summary.columns))}")
    if summary.empty:
        raise ValueError("summary has no rows")
    return summary


def codes_vs_bits_figure(summary: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Two panels, cross-modal RSUM and category mAP against the code length (log axis), one line per coded
    method with ± std error bars over seeds; the float reference (``method == "float"``) is a dotted line."""
    df = _summary(summary)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("cross-modal RSUM with codes", "category mAP (%)"))
    coded = df[df.method != "float"]
    for col, (metric, std) in enumerate((("rsum", "rsum_std"), ("map", "map_std")), 1):
        for method, part in coded.groupby("method", sort=False):
            part = part.sort_values("bits")
            fig.add_trace(go.Scatter(x=part.bits, y=part[metric], mode="lines+markers", name=LABELS.get(method, method),
                                     legendgroup=method, showlegend=col == 1,
                                     line=dict(color=COLORS.get(method, series_color(method))),
                                     error_y=dict(type="data", array=part[std], visible=bool((part[std] > 0).any())),
                                     hovertemplate=f"{LABELS.get(method, method)}<br>%{{x}} bits: %{{y:.2f}}"
                                                   "<extra></extra>"), row=1, col=col)
        for _, ref in df[df.method == "float"].iterrows():
            fig.add_hline(y=float(ref[metric]), line_dash="dot", line_color=COLORS["float"], row=1, col=col,
                          annotation_text=f"float ({int(ref.get('bytes_per_item', 0))} bytes per item)"
                          if "bytes_per_item" in ref else "float")
    ticks = sorted(coded.bits.unique())
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[str(b) for b in ticks], title_text="code length (bits)")
    fig.update_layout(title=title or "Codes against the code length (test split, mean ± std over seeds)",
                      template="plotly_white", height=420, legend=dict(orientation="h", y=-0.25))
    return fig


def codeword_usage(results: Mapping) -> pd.DataFrame:
    """Tidy ``supervision, bits, seed, book, codeword, share`` rows (``share`` = the codeword's fraction of its
    sub-codebook's uses on the training split, times K: 1 is uniform use, 0 a dead codeword)."""
    rows = []
    for (supervision, bits, seed), res in results.items():
        usage = np.asarray(res.codeword_usage, dtype=np.float64)
        share = usage / np.maximum(usage.sum(axis=1, keepdims=True), 1) * usage.shape[1]
        m, k = share.shape
        rows.append(pd.DataFrame({"supervision": supervision, "bits": int(bits), "seed": int(seed),
                                  "book": np.repeat(np.arange(m), k), "codeword": np.tile(np.arange(k), m),
                                  "share": share.ravel()}))
    if not rows:
        raise ValueError("results is empty: no trained codes")
    return pd.concat(rows, ignore_index=True)


def dead_codewords(usage: pd.DataFrame) -> pd.Series:
    """Percent of codewords never used on the training split, per (supervision, bits), over seeds and books."""
    return usage.assign(dead=usage.share == 0).groupby(["supervision", "bits"]).dead.mean().mul(100)


def codeword_usage_figure(usage: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Histogram of codeword shares (1 = uniform, 0 = dead), one panel per code length, one colour per
    supervision."""
    bits = sorted(usage.bits.unique())
    fig = make_subplots(rows=1, cols=len(bits), subplot_titles=[f"{b} bits" for b in bits], shared_yaxes=True)
    for col, b in enumerate(bits, 1):
        for sup, part in usage[usage.bits == b].groupby("supervision", sort=False):
            method = SUPERVISION_METHOD.get(sup, sup)
            fig.add_trace(go.Histogram(x=part.share, name=LABELS.get(method, sup), legendgroup=sup,
                                       showlegend=col == 1, marker_color=COLORS.get(method, series_color(sup)),
                                       opacity=0.6, nbinsx=40), row=1, col=col)
    fig.update_yaxes(type="log")
    fig.update_xaxes(title_text="use × K")
    fig.update_layout(barmode="overlay", template="plotly_white", height=360,
                      title=title or "Codeword usage on the training split (1 = uniform, 0 = dead)")
    return fig


__all__ = ["codes_vs_bits_figure", "codeword_usage", "codeword_usage_figure", "dead_codewords"]
