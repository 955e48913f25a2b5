"""The explorer for clients without a kernel: a static HTML snapshot of one state (its metrics table, its relation
heatmaps and its common space) and a line saying that the controls need a live kernel.

`ImbalanceExplorer` displays it next to the live widget (the ``text/html`` of its display): JupyterLab and Voilà
draw the widget, and wherever the widget cannot be drawn (the report's copy of notebook 05 and its HTML export,
`vlr_viz.report.offline`, which drop the widget view) the snapshot shows instead.

The figures are plotly divs drawn by a script that waits for plotly.js to be on the page, since the page may load it
only after this output (in notebook 05's export it comes with the first figure cell below the explorer).
"""
from __future__ import annotations

import uuid

import plotly.graph_objects as go

from ..notebook.display import responsive
from .state import ExplorerResult
from .views import geometry_figure, metrics_html, relation_figure

LIVE_KERNEL_NOTE = ("The explorer's controls need a live kernel: open the notebook in JupyterLab or run "
                    "<code>vlr-viz explore</code>. Shown here: a snapshot of its state when the notebook ran.")
PLOTLY_WAIT_SECONDS = 60
"""How long a snapshot figure waits for plotly.js to arrive on the page before it gives up (and stays blank)."""

_DRAW = """<script type="text/javascript">
(function (id, figure, tries) {{
  function draw() {{
    if (window.Plotly) {{ window.Plotly.newPlot(id, figure.data, figure.layout, {{responsive: true}}); }}
    else if (tries-- > 0) {{ setTimeout(draw, 100); }}
  }}
  draw();
}})("{id}", {figure}, {tries});
</script>"""


def figure_div(fig: go.Figure) -> str:
    """``fig`` as a ``<div>`` plus the script that draws it, responsive in width, once ``window.Plotly`` exists."""
    copy = responsive(fig)
    div_id = f"vlr-snapshot-{uuid.uuid4().hex}"
    figure = copy.to_json().replace("</", "<\\/")  # a string of the figure can never close the script
    # no height on the div: plotly gives it the figure's own, and where scripts do not run it takes no room
    return (f"<div id='{div_id}' class='vlr-snapshot-figure' style='width:100%'></div>"
            + _DRAW.format(id=div_id, figure=figure, tries=PLOTLY_WAIT_SECONDS * 10))


def snapshot_html(result: ExplorerResult, reference_layout=None) -> str:
    """The static snapshot of ``result``: `LIVE_KERNEL_NOTE`, then the metrics table, the common space (aligned to
    ``reference_layout`` when given, as the live view is) and the relation heatmaps."""
    figures = (geometry_figure(result, reference_layout=reference_layout), relation_figure(result))
    return ("<div class='vlr-explorer-snapshot'>"
            + f"<p class='vlr-live-kernel-note'><i>{LIVE_KERNEL_NOTE}</i></p>" + metrics_html(result, None)
            + "".join(figure_div(fig) for fig in figures) + "</div>")
