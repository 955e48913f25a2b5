"""``run_report``: plan, execute every notebook under a progress bar with an ETA, write the index."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .execute import DEFAULT_CELL_TIMEOUT, NotebookExecutionError, NotebookRun, execute_notebook, python_kernel
from .figures import report_figures_dir
from .index import write_index
from .plan import plan_report
from .timing import (NotebookProgress, expected_seconds, load_average, notebook_line, read_timings, stored_entries,
                     write_timings)


@dataclass
class ReportResult:
    out_dir: Path
    index_html: Path
    figures_dir: Path
    preset: str
    notebooks: list[NotebookRun]
    seconds: float
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None

    def run(self, name: str) -> NotebookRun:
        """The run of the notebook called ``name``."""
        for r in self.notebooks:
            if r.name == name:
                return r
        raise KeyError(f"no notebook {name!r} in this report; ran: {[r.name for r in self.notebooks]}")


def run_report(preset: str = "fast", params: dict[str, Any] | None = None, out_dir="reports/latest",
               figures_dir=None, notebooks_dir="notebooks", only=None, kernel_name: str | None = None,
               png: bool | None = None, cell_timeout: float | None = DEFAULT_CELL_TIMEOUT,
               progress_file=None, jobs: int = 1) -> ReportResult:
    """Validate, execute and export every selected notebook (see `vlr_viz.report`).

    ``jobs``: notebooks run side by side, each in its own process (and kernel). They are independent and meet only
    in the caches and the run store, which are safe for concurrent use, so the numbers do not change; the wall time
    drops when the machine has idle cores, and the peak memory is then that of up to ``jobs`` notebooks at once
    (each notebook's own peak is still measured on its own process tree).

    ``figures_dir``: where the notebooks' figures go (HTML and PNG); ``None`` is ``<out_dir>/figures``, so a report
    writes only into its own folder; the checkout's committed ``figures/`` are refused (`vlr_viz.report.figures`).

    ``png``: ``None`` exports PNGs when a browser is found, ``False`` never, ``True`` always (an export error
    then fails the notebook). ``progress_file``: where the progress bar and the per-notebook lines go (default
    stderr). Each notebook's wall time and peak memory are printed as it finishes, kept in the result, the index
    and ``<out>/timings.json`` (the next run's ETA). Raises ``ValueError`` for bad parameters (before running
    anything) and `NotebookExecutionError` when a notebook fails.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs must be a positive integer, got {jobs!r}")
    plans = plan_report(preset, params, notebooks_dir, only)
    out = Path(out_dir).resolve()
    figs = report_figures_dir(out, figures_dir, notebooks_dir)
    out.mkdir(parents=True, exist_ok=True)
    figs.mkdir(parents=True, exist_ok=True)
    expected, source = expected_seconds(plans, read_timings(out), stored_entries())
    runs: list[NotebookRun] = []
    load_before, start = load_average(), time.perf_counter()

    def finish() -> tuple[Path, float, Any]:
        seconds, load_after = time.perf_counter() - start, load_average()
        write_timings(out, runs)
        return write_index(out, runs, preset, seconds, load_before, load_after), seconds, load_after

    with python_kernel(kernel_name) as kernel:
        progress = NotebookProgress([p.name for p in plans], expected, file=progress_file or sys.stderr,
                                    jobs=min(jobs, len(plans)), source=source)
        try:
            if jobs > 1 and len(plans) > 1:
                runs += _side_by_side(plans, (out, figs, kernel, png, cell_timeout), jobs, progress, expected)
            else:
                for i, plan in enumerate(plans):
                    progress.start(i)
                    run = execute_notebook(plan, out, figs, kernel, png, cell_timeout)
                    runs.append(run)
                    progress.done(notebook_line(run, expected.get(plan.name)))
                    if run.status != "ok":
                        break
        finally:
            progress.close()
    index, seconds, load_after = finish()
    failed = next((r for r in runs if r.status != "ok"), None)
    if failed is not None:
        raise NotebookExecutionError(failed.error, failed.name, failed.executed if failed.executed.exists() else None)
    return ReportResult(out, index, figs, preset, runs, seconds, load_before, load_after)


def _side_by_side(plans, args: tuple, jobs: int, progress: NotebookProgress, expected: dict) -> list[NotebookRun]:
    """`execute_notebook` of every plan in ``jobs`` spawned processes, the longest of the previous run first (then
    in plan order); the runs in plan order. After a failure no further notebook starts (those running finish)."""
    from concurrent.futures import FIRST_COMPLETED, wait

    from ..processes import SpawnPool

    finished: dict[str, NotebookRun] = {}
    with SpawnPool(min(jobs, len(plans))) as pool:
        longest_first = sorted(plans, key=lambda plan: -expected.get(plan.name, 0.0))
        futures = {pool.submit(execute_notebook, plan, *args): plan for plan in longest_first}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                if future.cancelled():
                    continue
                run = future.result()
                finished[run.name] = run
                progress.done(notebook_line(run, expected.get(run.name)))
                if run.status != "ok":
                    for other in pending:
                        other.cancel()
    return [finished[p.name] for p in plans if p.name in finished]
