"""How a notebook shows its figures to every client: JupyterLab (live), papermill + nbconvert HTML (offline) and
the report, with no environment variable to set.

Every notebook's first code cell calls `setup_notebook`, which

* sets plotly's renderers to ``plotly_mimetype+notebook``: each figure is one output holding both the plotly
  mimetype (drawn live by JupyterLab's plotly extension) and HTML (what nbconvert and other static viewers
  show); the ``notebook`` renderer embeds plotly.js once, in the first figure's cell, so the exported HTML draws
  offline;
* turns off the progress bars that transformers and huggingface_hub draw while loading a model (a notebook
  would keep a "Loading weights" widget as output).

A ``PLOTLY_RENDERER`` set by the user wins: `setup_notebook` then leaves plotly's renderers alone.

Figures are displayed with `responsive`: a copy without a fixed width, so a wide figure fills the output area
instead of being cut off; its height, and the width used for PNG export, stay those of the figure.
"""
from __future__ import annotations

import os
import sys

NOTEBOOK_RENDERERS = "plotly_mimetype+notebook"
RESPONSIVE_CONFIG = {"responsive": True}


def in_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (an IPython shell that sends outputs to a frontend)."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def quiet_model_loading() -> None:
    """No progress bars from huggingface_hub and transformers (set before or after they are imported)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers.utils.logging" in sys.modules:
        sys.modules["transformers.utils.logging"].disable_progress_bar()


def use_notebook_renderers() -> str:
    """Set plotly's default renderers to `NOTEBOOK_RENDERERS` (responsive) unless ``PLOTLY_RENDERER`` is set;
    return the renderers in use."""
    import plotly.io as pio

    if os.environ.get("PLOTLY_RENDERER"):
        return pio.renderers.default
    for name in NOTEBOOK_RENDERERS.split("+"):
        pio.renderers[name].config = {**getattr(pio.renderers[name], "config", {}), **RESPONSIVE_CONFIG}
    pio.renderers.default = NOTEBOOK_RENDERERS
    return pio.renderers.default


def setup_notebook() -> None:
    """The first cell of every notebook: figures for every client, no progress widgets from model loading.

    Outside a Jupyter kernel (a script, pytest) only the progress bars are turned off and plotly keeps its
    renderers.
    """
    quiet_model_loading()
    if in_kernel():
        use_notebook_renderers()


def responsive(fig):
    """A plain ``go.Figure`` copy of ``fig`` (also of a ``FigureWidget``) without a fixed width, for display."""
    import plotly.graph_objects as go

    copy = go.Figure(fig)
    copy.update_layout(width=None, autosize=True)
    return copy


def display_figure(fig) -> None:
    """Show ``fig`` in a notebook as a responsive static figure (a snapshot, also of a ``FigureWidget``); outside
    a kernel nothing happens."""
    if not in_kernel():
        return
    from IPython.display import display

    display(responsive(fig))
