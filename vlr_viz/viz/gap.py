"""Figures of the geometry of the common space that a reviewer asks for: the modality gap over training and the
gap-shift experiment (Liang et al., "Mind the Gap", NeurIPS 2022), and alignment against uniformity per tower
(Wang & Isola, ICML 2020).

Inputs come from the library: training histories (`vlr_viz.train.History`, whose epoch rows hold
``val_modality_gap``), `vlr_viz.imbalance.gap_shift_curve` frames and `vlr_viz.experiments.study.run_summary` rows.
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vlr_viz.viz.colors import series_color, series_label
from vlr_viz.viz.drift import history_frame, stage_boundary

GAP_COLUMN = "val_modality_gap"
_SYMBOLS = ("circle", "diamond", "square", "triangle-up", "x", "star")


def modality_gap_figure(histories: Mapping[str, object], shift_curves: Mapping[str, pd.DataFrame],
                        metric: str = "rsum", title: str | None = None) -> go.Figure:
    """Two panels: left, the modality gap ``‖Δ‖`` of the validation split per epoch of each run; right, cross-modal
    ``metric`` (test split) when both modalities are moved along the gap by ``shift`` (0: the trained space,
    1: centroids meet), one line per model (`vlr_viz.imbalance.gap_shift_curve`).

    ``histories`` and ``shift_curves`` map a model name (e.g. ``"baseline"``, ``"sad-kl"``) to its history and
    its shift curve.
    """
    if not histories or not shift_curves:
        raise ValueError("modality_gap_figure needs at least one history and one shift curve")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("modality gap during training (validation split)",
                                        f"{metric} after moving both modalities along the gap (test split)"))
    boundary = None
    for name, history in histories.items():
        frame = history_frame(history)
        if GAP_COLUMN not in frame.columns:
            raise ValueError(f"history of {name!r} has no {GAP_COLUMN!r} per epoch (trained before it was logged?)")
        boundary = boundary if boundary is not None else stage_boundary(history)
        fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[GAP_COLUMN], mode="lines+markers", name=str(name),
                                 legendgroup=str(name), line=dict(color=series_color(name)),
                                 hovertemplate=f"{name}<br>epoch %{{x}}<br>gap %{{y:.3f}}<extra></extra>"),
                      row=1, col=1)
    if boundary is not None:
        fig.add_vline(x=boundary, line=dict(color="#999", dash="dot"), row=1, col=1)
        fig.add_annotation(x=boundary, y=1, yref="y domain", text="stage 2", showarrow=False, xanchor="left",
                           row=1, col=1)
    for name, curve in shift_curves.items():
        for col in ("shift", "gap", metric):
            if col not in curve.columns:
                raise ValueError(f"shift curve of {name!r} lacks column {col!r}")
        fig.add_trace(go.Scatter(x=curve["shift"], y=curve[metric], mode="lines+markers", name=str(name),
                                 legendgroup=str(name), showlegend=name not in histories,
                                 line=dict(color=series_color(name)), customdata=curve["gap"],
                                 hovertemplate=f"{name}<br>shift %{{x:.2f}} (gap %{{customdata:.3f}})<br>{metric} "
                                               "%{y:.2f}<extra></extra>"),
                      row=1, col=2)
    fig.add_vline(x=0, line=dict(color="#999", dash="dot"), row=1, col=2)
    fig.update_xaxes(title_text="epoch", row=1, col=1)
    fig.update_yaxes(title_text="‖μ_img − μ_txt‖₂", row=1, col=1)
    fig.update_xaxes(title_text="shift along the gap (0 = trained, 1 = centroids meet)", row=1, col=2)
    fig.update_yaxes(title_text=metric, row=1, col=2)
    fig.update_layout(template="plotly_white", height=430, legend_title="model",
                      title=title or "Modality gap (Liang et al. 2022)")
    return fig


def alignment_uniformity_figure(summary: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Alignment (x, mean ``‖v − t‖²`` over positive pairs) against uniformity (y) of each tower, one point per
    method (colour) and condition (symbol), mean ± std over seeds; lower-left is better on both (Wang & Isola 2020).

    ``summary``: rows with ``method``, ``condition``, ``alignment``, ``uniformity_image``, ``uniformity_text``
    (e.g. `vlr_viz.experiments.study.run_summary`).
    """
    need = ["method", "condition", "alignment", "uniformity_image", "uniformity_text"]
    if not isinstance(summary, pd.DataFrame) or summary.empty:
        raise ValueError("summary must be a non-empty DataFrame (vlr_viz.experiments.study.run_summary)")
    missing = [c for c in need if c not in summary.columns]
    if missing:
        raise ValueError(f"summary lacks column(s) {', '.join(missing)}")
    g = summary.groupby(["condition", "method"], sort=False)[need[2:]]
    mean, std = g.mean(), g.std().fillna(0.0)
    conditions = list(pd.unique(summary["condition"]))
    fig = make_subplots(rows=1, cols=2, shared_xaxes=True, horizontal_spacing=0.1,
                        subplot_titles=("image tower", "text tower"))
    for col, tower in enumerate(("uniformity_image", "uniformity_text"), start=1):
        for (condition, method), m in mean.iterrows():
            s = std.loc[(condition, method)]
            fig.add_trace(go.Scatter(
                x=[m["alignment"]], y=[m[tower]], mode="markers", name=f"{method} · {condition}",
                legendgroup=f"{method} · {condition}", showlegend=col == 1,
                marker=dict(size=11, color=series_color(method),
                            symbol=_SYMBOLS[conditions.index(condition) % len(_SYMBOLS)]),
                error_x=dict(type="data", array=[s["alignment"]], thickness=1),
                error_y=dict(type="data", array=[s[tower]], thickness=1),
                hovertemplate=f"{series_label(method)} · {condition}<br>alignment %{{x:.3f}}<br>uniformity %{{y:.3f}}"
                              "<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text="alignment E‖v − t‖²", row=1, col=col)
    fig.update_yaxes(title_text="uniformity log E exp(−2‖x − y‖²)", row=1, col=1)
    fig.update_layout(template="plotly_white", height=560, legend_title="method · condition",
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0),
                      title=title or "Alignment and uniformity of each tower (Wang & Isola 2020), test split; "
                                     "lower is better on both")
    return fig
