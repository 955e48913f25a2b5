"""The explorer's views of an `ExplorerResult` (pure: metrics table and HTML, relation heatmaps, the common-space
scatter) and the display of figures in every client (an ``Output`` widget holding plotly's mimetype)."""
from __future__ import annotations

import html
import json
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..arrays import first_caption_of_image
from .state import ExplorerResult

def metrics_table(result: ExplorerResult, reference: ExplorerResult | None = None) -> pd.DataFrame:
    """One row per metric (``value``), plus ``Δ`` against a ``reference`` result when given; λ last."""
    rows = dict(result.metrics)
    rows["λ (text-teacher weight)"] = np.nan if result.lam is None else result.lam
    out = pd.DataFrame({"value": pd.Series(rows, dtype=float)})
    if reference is not None:
        ref = dict(reference.metrics)
        ref["λ (text-teacher weight)"] = np.nan if reference.lam is None else reference.lam
        out["Δ"] = out["value"] - pd.Series(ref, dtype=float).reindex(out.index)
    out.index.name = "metric"
    return out


def metrics_html(result: ExplorerResult, reference: ExplorerResult | None = None) -> str:
    """The `metrics_table` as a small HTML table (category relevance for NDCG), headed by the state."""
    table = metrics_table(result, reference)
    cells = []
    for name, row in table.iterrows():
        value = "–" if pd.isna(row["value"]) else f"{row['value']:.3f}" if name.startswith("λ") else \
            f"{row['value']:.2f}"
        delta = ""
        if "Δ" in table.columns and not pd.isna(row["Δ"]):
            shown = f"{row['Δ']:+.2f}"
            # every metric here is higher-is-better; λ is a weight, and a Δ shown as ±0.00 tells no direction
            colour = "#444" if name.startswith("λ") or float(shown) == 0 else \
                "#1B7837" if row["Δ"] > 0 else "#B2182B"
            delta = f'<td style="color:{colour}">{shown}</td>'
        elif "Δ" in table.columns:
            delta = "<td></td>"
        cells.append(f"<tr><td>{html.escape(str(name))}</td><td style='text-align:right'>{value}</td>{delta}</tr>")
    head = "<tr><th>metric</th><th>value</th>" + ("<th>Δ</th>" if "Δ" in table.columns else "") + "</tr>"
    return (f"<div class='vlr-explorer-metrics'><p><b>{html.escape(result.state.describe())}</b><br>"
            f"NDCG uses category relevance; trained and evaluated in {result.seconds:.1f} s</p>"
            f"<table>{head}{''.join(cells)}</table></div>")


def relation_figure(result: ExplorerResult) -> go.Figure:
    """`vlr_viz.viz.relation_heatmaps` of the probe subset (teachers on top, student below)."""
    from vlr_viz.viz.relations import relation_heatmaps

    names = None
    if result.chars is not None or result.captions is not None:
        first = first_caption_of_image(result.txt_to_img, result.labels.size)
        names = [(result.chars[i] + " " if result.chars is not None else "")
                 + (result.captions[first[i]] if result.captions is not None else "") for i in result.probe]
    lam = "0.5 (fixed)" if result.lam is None else f"{result.lam:.3f}"
    return relation_heatmaps(result.relations, result.labels[result.probe], result.label_names, item_names=names,
                             title=f"Relations of {result.probe.size} probe items (cosine) · λ = {lam}",
                             panel_size=230)


def geometry_figure(result: ExplorerResult, reference_layout=None, method: str = "pca") -> go.Figure:
    """`vlr_viz.viz.common_space_figure` of the evaluation split (one panel, PCA by default), aligned by
    Procrustes to ``reference_layout`` when given (keeps the view steady while controls move)."""
    from vlr_viz.viz.geometry import common_space_figure

    return common_space_figure({"img": result.image_embeddings, "txt": result.text_embeddings}, None,
                               result.labels, result.label_names, result.captions, method=method,
                               txt_to_img=result.txt_to_img, chars=result.chars, titles=(result.state.describe(),),
                               reference_layout=reference_layout,
                               title=f"Common space ({method.upper()}) of the evaluation split")


# -- the widget ----------------------------------------------------------------------------------------------------

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


def figure_view():
    """A container to show figures in: an ``ipywidgets.Output`` whose synced ``outputs`` hold one figure."""
    import ipywidgets as w

    return w.Output(layout=w.Layout(width="100%"))


def figure_output(fig: go.Figure) -> dict:
    """``fig`` as one display-data output of plotly's mimetype (what JupyterLab's and Voilà's plotly renderer
    draws): the figure's JSON, numeric arrays as base64 typed arrays, with plotly's responsive config (a figure
    without a fixed width fills the output)."""
    import plotly.io as pio

    # strict JSON: a NaN (a masked cell) stays inside a typed array, or is null in a list
    figure = json.loads(pio.to_json(fig, validate=False))
    figure["config"] = {"responsive": True}
    return {"output_type": "display_data", "data": {PLOTLY_MIMETYPE: figure}, "metadata": {}}


def show_figure(view, fig: go.Figure) -> go.Figure:
    """Show ``fig`` in ``view`` (from `figure_view`) in place of what it showed; return ``fig``.

    The figure is set as the view's synced ``outputs`` (`figure_output`), so every view of it (the open one, one
    opened after a page reload, a second view, Voilà, a saved notebook reopened) draws the current figure, and the
    widget state a reload sends is the figure's data (plotly's ``FigureWidget`` carries its 5 MB JavaScript bundle
    in its state, once per figure; docs/clients.md). Outputs displayed into the view from the kernel
    (``with view:``) would be recorded by the frontend instead, and a view opened later would not see them.
    """
    if not hasattr(view, "outputs"):
        raise TypeError(f"show_figure needs the container from figure_view(), not a {type(view).__name__}")
    view.outputs = (figure_output(fig),)
    return fig


SWEEP_METRICS = ("rsum", "student image ndcg@10", "student text ndcg@10", "teacher text ndcg@10")


def sweep_figure(sweep: pd.DataFrame, text_kind: str, metrics: Sequence[str] = SWEEP_METRICS) -> go.Figure:
    """`ImbalanceExplorer.sweep` as lines: one panel per metric, text severity on x, one line per structure
    weight (weight 0 keeps matching and representation terms only)."""
    import plotly.express as px

    long = sweep.melt(id_vars=["structure weight", "text severity"], value_vars=list(metrics), var_name="metric")
    fig = px.line(long, x="text severity", y="value", color="structure weight", facet_col="metric", markers=True,
                  facet_col_wrap=len(metrics), height=400, title=f"Text '{text_kind}' severity × structure weight"
                  "<br><sup>weight 0: matching and representation terms only</sup>")
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    return fig
