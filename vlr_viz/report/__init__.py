"""The report: run every ``notebooks/NN_*.ipynb`` headless with papermill, export HTML, index the results.

``run_report`` (and ``vlr-viz report``) works in three steps:

1. plan (`vlr_viz.report.plan`): pick the notebooks (``only``), merge each one's parameters as
   ``defaults <- preset (metadata vlr_viz.presets) <- global params <- per-notebook params`` and validate every
   value of every notebook (type, choices, range, elements and the rules between parameters:
   `vlr_viz.notebook.parameters.check_notebook_parameters`, the check each notebook also runs on itself) before
   anything runs;
2. execute (`vlr_viz.report.execute`): papermill runs each notebook in a kernel on this interpreter
   (``sys.executable``), with ``VLR_VIZ_METRICS_PATH`` / ``VLR_VIZ_FIGURES_DIR`` / ``VLR_VIZ_NOTEBOOK`` for
   `vlr_viz.notebook.recording`, measuring its wall time and the peak memory of the process tree; a tqdm bar over the
   notebooks shows the ETA from the previous run with the same parameters (`vlr_viz.report.timing`);
3. export: ``<out>/<name>.ipynb`` (executed, made to stand on its own by `vlr_viz.report.offline`),
   ``<out>/<name>.html`` (nbconvert, lab template without CDN scripts),
   ``<out>/<name>.metrics.json``, ``<out>/figures/<name>/`` (each figure's HTML and PNG: a report writes nothing
   outside ``<out>``; the committed ``figures/`` change only with ``--update-figures``, `vlr_viz.report.figures`),
   ``<out>/timings.json`` and ``<out>/index.html`` (`vlr_viz.report.index`:
   headline tables, where the time went, each notebook's figures with captions, the raw numbers one click away).

Figures render in every client because each notebook's first cell sets plotly's renderers
(`vlr_viz.notebook.display.setup_notebook`): a notebook run by plain papermill embeds plotly.js once and its HTML
export draws offline. The report writes plotly.js once, ``<figures>/plotly.min.js``, and every page of the report
(executed notebooks, their HTML, each figure's HTML) loads it by a relative path, so the folder can be copied anywhere
and read offline (`vlr_viz.report.offline`).

``vlr-viz explore`` (`vlr_viz.report.explore`) is the other notebook runner: notebook 05's explorer served as a
web page by Voilà.

A failing cell stops the run with `NotebookExecutionError` naming the notebook, the cell and the error; the
partially executed notebook (and its HTML) stay in ``out_dir``.
"""
from .cli import add_report_parser, cmd_report
from .execute import (DEFAULT_CELL_TIMEOUT, KERNEL_NAME, NotebookExecutionError, NotebookRun, environment,
                      execute_notebook, kernel_manager_class, python_kernel)
from .index import write_index
from .offline import export_html, offline_notebook
from .params import parse_cli_parameters
from .plan import BUILTIN_PRESETS, NOTEBOOK_GLOB, NotebookPlan, discover_notebooks, plan_report, select_notebooks
from .run import ReportResult, run_report

__all__ = [
    "BUILTIN_PRESETS", "DEFAULT_CELL_TIMEOUT", "KERNEL_NAME", "NOTEBOOK_GLOB", "NotebookExecutionError",
    "NotebookPlan", "NotebookRun", "ReportResult", "add_report_parser", "cmd_report", "discover_notebooks",
    "environment", "execute_notebook", "export_html", "kernel_manager_class", "offline_notebook",
    "parse_cli_parameters", "plan_report", "python_kernel", "run_report", "select_notebooks", "write_index",
]
