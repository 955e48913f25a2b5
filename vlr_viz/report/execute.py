"""Run one planned notebook with papermill in a kernel on this interpreter, measure it, export its HTML.

The kernel gets ``VLR_VIZ_METRICS_PATH`` / ``VLR_VIZ_FIGURES_DIR`` / ``VLR_VIZ_NOTEBOOK`` for
`vlr_viz.notebook.recording`; how figures render is the notebook's own business (its first cell calls
`vlr_viz.notebook.display.setup_notebook`), so a notebook run here and one run by plain papermill execute the same.
The report keeps an offline copy of the executed notebook (`vlr_viz.report.offline`: plotly.js from the report's one
``plotly.min.js``, static forms instead of widget views) and exports its HTML from that copy.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..notebook.recording import (FIGURE_PNG_ENV, FIGURES_DIR_ENV, METRICS_PATH_ENV, NOTEBOOK_ENV, read_figures,
                                  read_metrics, write_plotlyjs)
from ..resources import measure
from .offline import export_html, make_offline
from .plan import NotebookPlan
from .timing import stored_entries

KERNEL_NAME = "vlr-viz-python"
DEFAULT_CELL_TIMEOUT = 1800.0
"""Seconds one notebook cell may run in a report before the notebook fails (a hung kernel cannot stall CI)."""
MEMORY_POLL_SECONDS = 0.25
"""How often the resident memory of the process tree (report, kernel and the kernel's children) is sampled."""


class NotebookExecutionError(RuntimeError):
    """A notebook of the report failed; the message names the notebook, the cell and the error."""

    def __init__(self, message: str, notebook: str, executed: Path | None = None):
        super().__init__(message)
        self.notebook = notebook
        self.executed = executed


@dataclass
class NotebookRun:
    """What one executed notebook left: files, parameters, recorded metrics and figures, wall time and the peak
    resident memory (bytes) of the process tree that ran it: the report process, the kernel and its children."""

    name: str
    source: Path
    executed: Path
    html: Path | None
    metrics_path: Path
    parameters: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    peak_rss: int = 0
    peak_pss: int = 0
    stored_before: int | None = None
    stored_after: int | None = None
    status: str = "ok"
    error: str | None = None


@contextlib.contextmanager
def python_kernel(kernel_name: str | None = None) -> Iterator[str]:
    """A kernel name for papermill. ``None``: a temporary kernelspec running this ``sys.executable``.

    The spec lives in a temporary Jupyter data folder put first on ``JUPYTER_PATH`` for the duration, so an
    unrelated user-level ``python3`` kernel can never be picked up and nothing is installed anywhere.
    """
    if kernel_name is not None:
        yield kernel_name
        return
    with tempfile.TemporaryDirectory(prefix="vlr_viz_kernel_") as tmp:
        spec_dir = Path(tmp) / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Python ({sys.executable})",
            "language": "python",
            "metadata": {"debugger": False, "supported_encryption": ["curve"]},
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
        old = os.environ.get("JUPYTER_PATH")
        with environment(JUPYTER_PATH=os.pathsep.join([tmp] + ([old] if old else []))):
            yield KERNEL_NAME


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (or, for ``None``, remove) environment variables, restoring them afterwards."""
    def apply(settings: dict[str, str | None]) -> None:
        for k, v in settings.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    saved = {k: os.environ.get(k) for k in values}
    try:
        apply(values)
        yield
    finally:
        apply(saved)


def kernel_manager_class():
    """The ``AsyncKernelManager`` a report runs its notebooks with.

    It provisions CurveZMQ keys when the kernelspec declares support, and it shuts a kernel down without the SIGINT
    jupyter_client sends to the kernel's process group first: a report shuts a kernel down only once its notebook
    is over (done, failed or timed out), so the signal had nothing to stop and landed in whatever message handler
    ran then, where ipykernel logs "KeyboardInterrupt caught in kernel" into the report's output. The shutdown
    request itself, then a kill after jupyter_client's wait, still ends a kernel that is busy.
    """
    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    class ReportKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if not self.shutting_down:  # set by shutdown_kernel before it interrupts
                await super()._async_interrupt_kernel()

    if not zmq.has("curve"):
        return ReportKernelManager

    class EncryptedKernelManager(ReportKernelManager):
        transport_encryption = CaselessStrEnum(["disabled", "auto", "required"], default_value="auto", config=True)

    return EncryptedKernelManager


def _failure_message(plan: NotebookPlan, err, executed: Path) -> str:
    """'notebook X failed at cell i (In [n]): Error: value', the cell's first lines and where to look.

    ``i`` counts the cells of the source notebook from 0: papermill's index refers to the executed notebook,
    which holds an extra injected-parameters cell when parameters were passed.
    """
    import nbformat

    index = err.cell_index
    try:
        cells = [c for c in nbformat.read(str(executed), as_version=4).cells
                 if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
        index -= sum("injected-parameters" in c.get("metadata", {}).get("tags", []) for c in cells[:err.cell_index])
    except Exception:  # noqa: BLE001 - the message stays useful with papermill's own index
        pass
    source = "\n".join("    " + line for line in str(err.source).splitlines()[:6])
    return (f"notebook {plan.path.name} failed at cell {index} (counting from 0; In [{err.exec_count}]): "
            f"{err.ename}: {err.evalue}\n{source}\n"
            f"partially executed notebook kept at {executed}")


def execute_notebook(plan: NotebookPlan, out_dir: Path, figures_dir: Path, kernel_name: str,
                     png: bool | None = None, cell_timeout: float | None = DEFAULT_CELL_TIMEOUT) -> NotebookRun:
    """Run one planned notebook with papermill; a failure is returned as ``status="failed"`` with its message.

    ``cell_timeout``: seconds one cell may run (``None``: no limit); a cell past it fails the notebook. The
    run's wall time and the peak memory of the process tree (`vlr_viz.resources.measure`: this process, the
    kernel and whatever the kernel starts; PSS and summed RSS) are kept in the returned `NotebookRun`.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    executed = out_dir / f"{plan.name}.ipynb"
    running = out_dir / f".{plan.name}.running.ipynb"
    metrics_path = out_dir / f"{plan.name}.metrics.json"
    for stale in (executed, metrics_path, out_dir / f"{plan.name}.html"):
        stale.unlink(missing_ok=True)
    run = NotebookRun(plan.name, plan.path, executed, None, metrics_path, plan.parameters)
    env = {
        METRICS_PATH_ENV: str(metrics_path),
        FIGURES_DIR_ENV: str(figures_dir),
        NOTEBOOK_ENV: plan.name,
        "PLOTLY_RENDERER": None,  # the notebook's first cell chooses the renderers for every client
        FIGURE_PNG_ENV: None if png is None else ("1" if png else "0"),
    }
    failure = None
    run.stored_before = stored_entries()  # a run that adds entries computed its work: a cold time (timing.py)
    with measure(poll_seconds=MEMORY_POLL_SECONDS) as usage:
        try:
            with environment(**env):
                papermill.execute_notebook(
                    str(plan.path), str(running), parameters=plan.parameters, kernel_name=kernel_name,
                    cwd=str(plan.path.parent), progress_bar=False, log_output=False, execution_timeout=cell_timeout,
                    kernel_manager_class=kernel_manager_class(),
                )
        except PapermillExecutionError as err:
            failure = err
        except Exception as err:  # kernel died, timeout, bad notebook: still name the notebook
            failure = err
    run.seconds, run.peak_rss, run.peak_pss = usage.seconds, usage.peak_rss, usage.peak_pss
    run.stored_after = stored_entries()
    if running.exists():
        make_offline(running, write_plotlyjs(figures_dir))
        os.replace(running, executed)
    if executed.exists():
        run.html = export_html(executed, out_dir / f"{plan.name}.html")
    if metrics_path.exists():
        run.metrics, run.figures = read_metrics(metrics_path), read_figures(metrics_path)
    if failure is not None:
        run.status = "failed"
        if isinstance(failure, PapermillExecutionError):
            run.error = _failure_message(plan, failure, executed)
        else:
            run.error = (f"notebook {plan.path.name} failed: {type(failure).__name__}: {failure}"
                         + (f"\npartially executed notebook kept at {executed}" if executed.exists() else ""))
    return run
