"""Notebook 01 run the way papermill users run notebooks, with no vlr_viz runner and no environment variable:
``papermill`` on the command line, then ``jupyter nbconvert --to html``. The figures draw in headless Chromium,
and a value of the wrong type stops the notebook at once, naming the parameter."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from test_report_browser import RENDERED_SVG, chromium, dump_dom  # noqa: F401 (fixture)
from vlr_viz.notebook.parameters import notebook_parameters
from vlr_viz.notebook.recording import FIGURE_PNG_ENV, FIGURES_DIR_ENV, METRICS_PATH_ENV, NOTEBOOK_ENV
from vlr_viz.report import python_kernel

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/01_modal_imbalance.ipynb"


def _plain_environment() -> dict:
    """This environment without anything the report would set for a notebook."""
    drop = {METRICS_PATH_ENV, FIGURES_DIR_ENV, NOTEBOOK_ENV, FIGURE_PNG_ENV, "PLOTLY_RENDERER"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _papermill(out: Path, *parameters: str, kernel: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "papermill", NOTEBOOK, str(out), "-k", kernel, *parameters],
                          cwd=ROOT, env=_plain_environment(), capture_output=True, text=True, timeout=1200)


@pytest.mark.notebooks
@pytest.mark.browser
def test_plain_papermill_and_nbconvert_html_draw_the_figures(chromium, tmp_path):  # noqa: F811
    out = tmp_path / "out.ipynb"
    with python_kernel() as kernel:
        done = _papermill(out, "-y", "severities: [0.0, 0.75]", "-y", "compare_datasets: [twemoji]", kernel=kernel)
    assert done.returncode == 0, done.stderr[-3000:]
    executed = nbformat.read(str(out), as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 3 and all("text/html" in o.data for o in figures)  # live mimetype + static HTML
    plotlyjs_copies = sum("plotly.js v" in o.data.get("text/html", "")[:400] for o in outputs if "data" in o)
    assert plotlyjs_copies == 1  # embedded once, so the HTML export draws offline

    converted = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(out)],
                               cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert converted.returncode == 0, converted.stderr[-2000:]
    dom = dump_dom(chromium, tmp_path / "out.html", tmp_path)
    assert dom.count('class="plot-container plotly"') == 3
    assert len(RENDERED_SVG.findall(dom)) >= 2 and re.search(r'class="scatterlayer[^"]*"', dom)
    assert 'class="bars"' in dom or 'class="point"' in dom  # the traces themselves were drawn


@pytest.mark.notebooks
def test_plain_papermill_refuses_a_wrong_type_in_the_cell_after_the_parameters(tmp_path):
    out = tmp_path / "out.ipynb"
    with python_kernel() as kernel:
        done = _papermill(out, "-p", "severities", "[0.0, 0.75]", kernel=kernel)  # -p passes text
    assert done.returncode != 0
    message = ("notebook 01_modal_imbalance.ipynb: parameter 'severities' expects list "
               "(default [0.0, 0.25, 0.5, 0.75, 0.95]), got str '[0.0, 0.75]'")
    assert f"NotebookParameterError: {message}" in done.stderr
    assert "-y 'severities: [0.0, 0.75]'" in done.stderr  # how to pass a list to papermill
    cells = [c for c in nbformat.read(str(out), as_version=4).cells if c.cell_type == "code"]
    failed = next(i for i, c in enumerate(cells) if any(o.output_type == "error" for o in c.outputs))
    assert "check_notebook_parameters" in cells[failed].source
    assert "parameters" in cells[failed - 2].metadata.get("tags", [])  # right after papermill's injected cell
    assert all(c.execution_count is None for c in cells[failed + 1:])  # nothing else ran
    error = next(o for o in cells[failed].outputs if o.output_type == "error")
    assert len(error.traceback) == 1 and message in error.traceback[0]  # one line, no traceback


@pytest.mark.notebooks
def test_plain_papermill_refuses_a_misspelt_parameter_before_any_work(tmp_path):
    """papermill injects any name it is given; the check cell refuses one the parameters cell does not declare,
    naming it, so a typo does not run the notebook's defaults."""
    out = tmp_path / "out.ipynb"
    notebook = "notebooks/04_rebalancing_report.ipynb"
    with python_kernel() as kernel:
        done = subprocess.run([sys.executable, "-m", "papermill", notebook, str(out), "-k", kernel,
                               "-p", "severitys", "x", "-y", "{seeds: [0], dataset: twemoji}"],
                              cwd=ROOT, env=_plain_environment(), capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    known = ", ".join(sorted(notebook_parameters(ROOT / notebook)))
    message = (f"notebook 04_rebalancing_report.ipynb: unknown parameter(s) 'severitys' passed to papermill; "
               f"known: {known}")
    assert f"NotebookParameterError: {message}" in done.stderr, done.stderr[-3000:]
    cells = [c for c in nbformat.read(str(out), as_version=4).cells if c.cell_type == "code"]
    failed = next(i for i, c in enumerate(cells) if any(o.output_type == "error" for o in c.outputs))
    assert "check_notebook_parameters" in cells[failed].source
    assert "injected-parameters" in cells[failed - 1].metadata.get("tags", [])
    assert all(c.execution_count is None for c in cells[failed + 1:])  # nothing else ran
    error = next(o for o in cells[failed].outputs if o.output_type == "error")
    assert len(error.traceback) == 1 and message in error.traceback[0]
