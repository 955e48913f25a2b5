"""The report's executed notebooks and their HTML exports as files that stand on their own: copy the report folder
anywhere, open it without a network, and every figure draws.

A notebook run by papermill holds what its clients need live: plotly.js embedded in the output where the first
figure showed (4.9 MB, `vlr_viz.notebook.display`), a MathJax script from a CDN in every figure's HTML, and for
ipywidgets a widget view plus the widgets' saved state, which nbconvert draws with a widget manager fetched from a
CDN. The report's copy (`offline_notebook`) instead

* loads plotly.js from the one ``plotly.min.js`` of the report (`vlr_viz.notebook.recording.write_plotlyjs`), by
  a relative path, where the embedded copy stood;
* drops the MathJax CDN script (no figure uses LaTeX; offline it would not load anyway);
* drops every widget view that has a static form (text/html, an image) and the saved widget state, so each client
  shows the static form: notebook 05's explorer shows the snapshot of its first state
  (`vlr_viz.widgets.snapshot.snapshot_html`) instead of a blank cell offline, and JupyterLab reopening the notebook
  without a kernel shows the snapshot instead of "Error displaying widget: model not found".

`export_html` converts such a notebook with nbconvert's lab template minus the scripts that template fetches
from CDNs (require.js, MathJax, mermaid, the widget manager): nothing the report's notebooks use.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..atomic import atomic_write_bytes

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
STATIC_FORMS = ("text/html", "image/png", "image/jpeg", "image/svg+xml", "text/markdown")
"""What a widget output must also hold for its view to be dropped (``text/plain`` alone, a repr, is not shown)."""

EMBEDDED_PLOTLYJS = re.compile(r"<script\b[^>]*>(?=\s*/\*+\s*\*?\s*plotly\.js v)(?:.*?)</script>", re.S)
"""A ``<script>`` element whose text is the plotly.js bundle (it opens with its licence header naming the version;
the bundle holds no ``</script``)."""
MATHJAX_CDN = re.compile(r"<script\b[^>]*\bsrc=[\"']https?://[^\"']*mathjax[^\"']*[\"'][^>]*>\s*</script>", re.I)

OFFLINE_TEMPLATE = "vlr_viz_offline.html.j2"
_TEMPLATE_SOURCE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""


def plotlyjs_script(src: str) -> str:
    """The ``<script>`` element loading plotly.js from ``src`` (a path relative to the page)."""
    return f'<script src="{src}" charset="utf-8"></script>'


def _offline_html(text: str, plotlyjs_src: str) -> str:
    text = EMBEDDED_PLOTLYJS.sub(lambda _: plotlyjs_script(plotlyjs_src), text)
    return MATHJAX_CDN.sub("", text)


def offline_notebook(nb, plotlyjs_src: str):
    """``nb`` (an nbformat notebook, changed in place and returned) with plotly.js loaded from ``plotlyjs_src``,
    no MathJax CDN script and no widget views that have a static form, nor saved widget state (module docstring).

    ``plotlyjs_src``: the path of the report's ``plotly.min.js`` relative to the folder holding the notebook.
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not data:
                continue
            if WIDGET_VIEW in data and any(form in data for form in STATIC_FORMS):
                del data[WIDGET_VIEW]
            if isinstance(data.get("text/html"), str):
                data["text/html"] = _offline_html(data["text/html"], plotlyjs_src)
    widgets = nb.metadata.get("widgets")
    if widgets is not None:
        widgets.pop(WIDGET_STATE, None)
        if not widgets:
            del nb.metadata["widgets"]
    return nb


def make_offline(executed: Path, plotlyjs: Path) -> None:
    """Rewrite the executed notebook ``executed`` (atomically) as `offline_notebook` does, loading plotly.js from
    the file ``plotlyjs``."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    src = os.path.relpath(plotlyjs, executed.parent).replace(os.sep, "/")
    atomic_write_bytes(executed, nbformat.writes(offline_notebook(nb, src)).encode())


def export_html(executed: Path, html_path: Path) -> Path:
    """The nbconvert HTML (lab template, no script from a CDN) of an executed notebook, written atomically."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", template_file=OFFLINE_TEMPLATE,
                            extra_loaders=[DictLoader({OFFLINE_TEMPLATE: _TEMPLATE_SOURCE})])
    body, _ = exporter.from_filename(str(executed))
    atomic_write_bytes(html_path, body.encode())
    return html_path
