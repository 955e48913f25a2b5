"""The report: run every ``notebooks/NN_*.ipynb`` headless with papermill, export HTML, index the key numbers.

``run_report`` (and ``vlr-viz report``) works in three steps:

1. plan: pick the notebooks (``only``), merge each one's parameters as
   ``defaults <- preset (metadata vlr_viz.presets) <- global params <- per-notebook params`` and validate every
   value of every notebook (type, choices, range, elements and the rules between parameters:
   `vlr_viz.notebook_params.check_notebook_parameters`) before anything runs;
2. execute: papermill runs each notebook in a kernel on this interpreter (``sys.executable``), with
   ``PLOTLY_RENDERER=notebook`` so that the executed notebook embeds plotly.js once and its HTML export renders
   offline, and with ``VLR_VIZ_METRICS_PATH`` / ``VLR_VIZ_FIGURES_DIR`` / ``VLR_VIZ_NOTEBOOK`` for
   `vlr_viz.metrics_log`;
3. export: ``<out>/<name>.ipynb`` (executed), ``<out>/<name>.html`` (nbconvert, lab template),
   ``<out>/<name>.metrics.json`` and ``<out>/index.html`` linking them with the key numbers and PNG thumbnails.

A failing cell stops the run with `NotebookExecutionError` naming the notebook, the cell and the error; the
partially executed notebook (and its HTML) stay in ``out_dir``.
"""
from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .cache import atomic_write_bytes
from .metrics_log import (
    FIGURE_PNG_ENV, FIGURES_DIR_ENV, METRICS_PATH_ENV, NOTEBOOK_ENV, read_figures, read_metrics,
)
from .notebook_params import (
    check_notebook_parameters, check_overrides, notebook_parameters, notebook_presets, parse_cli_value,
)

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
BUILTIN_PRESETS = ("fast", "full")
KERNEL_NAME = "vlr-viz-python"
DEFAULT_CELL_TIMEOUT = 1800.0
"""Seconds one notebook cell may run in a report before the notebook fails (a hung kernel cannot stall CI)."""


class NotebookExecutionError(RuntimeError):
    """A notebook of the report failed; the message names the notebook, the cell and the error."""

    def __init__(self, message: str, notebook: str, executed: Path | None = None):
        super().__init__(message)
        self.notebook = notebook
        self.executed = executed


@dataclass
class NotebookPlan:
    """One notebook to run: its file, its defaults and the validated overrides passed to papermill."""

    name: str
    path: Path
    defaults: dict[str, Any]
    parameters: dict[str, Any]


@dataclass
class NotebookRun:
    """What one executed notebook left: files, parameters, recorded metrics and figures, wall time."""

    name: str
    source: Path
    executed: Path
    html: Path | None
    metrics_path: Path
    parameters: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    status: str = "ok"
    error: str | None = None


@dataclass
class ReportResult:
    out_dir: Path
    index_html: Path
    figures_dir: Path
    preset: str
    notebooks: list[NotebookRun]
    seconds: float

    def run(self, name: str) -> NotebookRun:
        """The run of the notebook called ``name``."""
        for r in self.notebooks:
            if r.name == name:
                return r
        raise KeyError(f"no notebook {name!r} in this report; ran: {[r.name for r in self.notebooks]}")


# ----------------------------------------------------------------------------------------------- plan

def discover_notebooks(notebooks_dir: str | os.PathLike = "notebooks") -> list[Path]:
    """Every ``NN_*.ipynb`` of ``notebooks_dir``, in name order."""
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise ValueError(f"notebooks_dir {str(folder)!r} is not a folder")
    found = sorted(folder.resolve().glob(NOTEBOOK_GLOB))
    if not found:
        raise ValueError(f"notebooks_dir {str(folder)!r} holds no notebook named {NOTEBOOK_GLOB}")
    return found


def select_notebooks(paths: list[Path], only: list[str] | str | None) -> list[Path]:
    """The notebooks named in ``only`` (full name ``01_modal_imbalance`` or number ``01``), in run order."""
    if only is None:
        return paths
    wanted = [only] if isinstance(only, str) else list(only)
    by_key = {}
    for p in paths:
        by_key[p.stem] = p
        by_key[p.stem[:2]] = p
    unknown = [w for w in wanted if Path(str(w)).stem not in by_key]
    if unknown:
        raise ValueError(f"only: unknown notebook(s) {unknown}; available: {[p.stem for p in paths]}")
    chosen = {by_key[Path(str(w)).stem] for w in wanted}
    return [p for p in paths if p in chosen]


def plan_report(preset: str = "fast", params: dict[str, Any] | None = None,
                notebooks_dir: str | os.PathLike = "notebooks", only=None) -> list[NotebookPlan]:
    """Validated per-notebook parameters; raises ``ValueError`` before anything runs.

    ``params`` maps a parameter name to a value for every selected notebook that has it (at least one must), or
    a notebook name or number (``"01_modal_imbalance"``, ``"01"``) to a dict of parameters for that notebook
    only. Notebook names start with digits, parameter names cannot, so the two never clash.
    """
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict, got {type(params).__name__}")
    paths = select_notebooks(discover_notebooks(notebooks_dir), only)
    names = [p.stem for p in paths]
    defaults = {p.stem: notebook_parameters(p) for p in paths}
    presets = {p.stem: notebook_presets(p) for p in paths}

    declared = set(BUILTIN_PRESETS).union(*[set(v) for v in presets.values()])
    if not isinstance(preset, str) or preset not in declared:
        raise ValueError(f"preset {preset!r} is unknown; known: {sorted(declared)}")

    bad_keys = [k for k in params if not isinstance(k, str) or not k]
    if bad_keys:
        raise TypeError(f"params keys must be parameter or notebook names (non-empty str), got {bad_keys}")
    global_params = {k: v for k, v in params.items() if not k[0].isdigit()}
    local_params: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        if not key[0].isdigit():
            continue
        matches = [p.stem for p in paths if key in (p.stem, p.stem[:2])]
        if not matches:
            raise ValueError(f"params: {key!r} is not among the selected notebooks {names}")
        if not isinstance(value, dict):
            raise ValueError(f"params[{key!r}] must be a dict of parameters, got {type(value).__name__}")
        local_params.setdefault(matches[0], {}).update(value)
    known_anywhere = set().union(*[set(d) for d in defaults.values()])
    unknown = sorted(set(global_params) - known_anywhere)
    if unknown:
        raise ValueError(f"params: unknown parameter(s) {unknown}: no selected notebook declares them; "
                         f"known: {', '.join(sorted(known_anywhere)) or 'none'}")

    plans = []
    for p in paths:
        where = f"notebook {p.name}"
        merged = dict(check_overrides(defaults[p.stem], presets[p.stem].get(preset, {}),
                                      where=f"{where}: preset {preset!r}"))
        merged.update(check_overrides(defaults[p.stem],
                                      {k: v for k, v in global_params.items() if k in defaults[p.stem]}, where))
        merged.update(check_overrides(defaults[p.stem], local_params.get(p.stem, {}), where))
        merged = check_notebook_parameters(p, merged, defaults[p.stem])  # ranges, choices, elements
        plans.append(NotebookPlan(p.stem, p, defaults[p.stem], merged))
    return plans


# ----------------------------------------------------------------------------------------------- kernel

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
        with _environment(JUPYTER_PATH=os.pathsep.join([tmp] + ([old] if old else []))):
            yield KERNEL_NAME


@contextlib.contextmanager
def _environment(**values: str | None) -> Iterator[None]:
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


def _kernel_manager_class():
    """An ``AsyncKernelManager`` provisioning CurveZMQ keys when the kernelspec declares support (else plain)."""
    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    if not zmq.has("curve"):
        return AsyncKernelManager

    class EncryptedKernelManager(AsyncKernelManager):
        transport_encryption = CaselessStrEnum(["disabled", "auto", "required"], default_value="auto", config=True)

    return EncryptedKernelManager


# ----------------------------------------------------------------------------------------------- execute

def export_html(executed: Path, html_path: Path) -> Path:
    """The nbconvert (lab template) HTML of an executed notebook, written atomically."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_filename(str(executed))
    atomic_write_bytes(html_path, body.encode())
    return html_path


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

    ``cell_timeout``: seconds one cell may run (``None``: no limit); a cell past it fails the notebook.
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
        "PLOTLY_RENDERER": "notebook",
        FIGURE_PNG_ENV: None if png is None else ("1" if png else "0"),
    }
    start = time.perf_counter()
    failure = None
    try:
        with _environment(**env):
            papermill.execute_notebook(
                str(plan.path), str(running), parameters=plan.parameters, kernel_name=kernel_name,
                cwd=str(plan.path.parent), progress_bar=False, log_output=False, execution_timeout=cell_timeout,
                kernel_manager_class=_kernel_manager_class(),
            )
    except PapermillExecutionError as err:
        failure = err
    except Exception as err:  # kernel died, timeout, bad notebook: still name the notebook
        failure = err
    run.seconds = time.perf_counter() - start
    if running.exists():
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


# ----------------------------------------------------------------------------------------------- index

def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and len(value) > 8:
        return "[" + ", ".join(_format_value(v) for v in value[:8]) + f", … ({len(value)} values)]"
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return str(value)


def _flatten(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows = []
    for k, v in metrics.items():
        if isinstance(v, dict):
            rows.extend(_flatten(v, f"{prefix}{k}."))
        else:
            rows.append((prefix + k, v))
    return rows


_INDEX_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
section{border-top:1px solid #ccc;padding:.5em 0 1em}
h2 a{text-decoration:none} .failed{color:#b00} .meta{color:#666;font-size:90%}
table{border-collapse:collapse;font-size:90%} td{padding:.1em .8em .1em 0;font-variant-numeric:tabular-nums}
.thumbs img{max-width:22em;max-height:16em;border:1px solid #ddd;margin:.3em}
pre{background:#fee;padding:.5em;white-space:pre-wrap}
"""


def write_index(out_dir: Path, runs: list[NotebookRun], preset: str) -> Path:
    """``out_dir/index.html``: one section per notebook with its links, key numbers and PNG thumbnails.

    The thumbnails are copied under ``out_dir/thumbnails/<notebook>/`` so that the folder stands on its own.
    """
    esc = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>vlr_viz report</title>"
             f"<style>{_INDEX_STYLE}</style></head><body><h1>vlr_viz report</h1>"
             f"<p class='meta'>preset <b>{esc(preset)}</b> · "
             f"{esc(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))} · "
             f"{len(runs)} notebook(s)</p>"]
    for r in runs:
        title = (f"<a href='{esc(r.html.name)}'>{esc(r.name)}</a>" if r.html else esc(r.name))
        parts.append(f"<section id='{esc(r.name)}'><h2>{title}</h2><p class='meta'>"
                     f"<span class='{esc(r.status)}'>{esc(r.status)}</span> · {r.seconds:.1f} s · "
                     f"<a href='{esc(r.executed.name)}'>executed notebook</a>"
                     + (f" · parameters {esc(json.dumps(r.parameters))}" if r.parameters else "") + "</p>")
        if r.error:
            parts.append(f"<pre>{esc(r.error)}</pre>")
        rows = _flatten(r.metrics)
        if rows:
            parts.append("<table class='metrics'>" + "".join(
                f"<tr><td>{esc(k)}</td><td>{esc(_format_value(v))}</td></tr>" for k, v in rows) + "</table>")
        thumbs = []
        for fig_name, entry in r.figures.items():
            png = entry.get("png")
            if png and Path(png).exists():
                target = out_dir / "thumbnails" / r.name / f"{fig_name}.png"
                atomic_write_bytes(target, Path(png).read_bytes())
                rel = target.relative_to(out_dir).as_posix()
                thumbs.append(f"<a href='{esc(r.html.name if r.html else rel)}'>"
                              f"<img src='{esc(rel)}' alt='{esc(fig_name)}' title='{esc(fig_name)}'></a>")
        if thumbs:
            parts.append("<div class='thumbs'>" + "".join(thumbs) + "</div>")
        parts.append("</section>")
    parts.append("</body></html>")
    path = out_dir / "index.html"
    atomic_write_bytes(path, "\n".join(parts).encode())
    return path


# ----------------------------------------------------------------------------------------------- runner

def run_report(preset: str = "fast", params: dict[str, Any] | None = None, out_dir="reports/latest",
               figures_dir="figures", notebooks_dir="notebooks", only=None, kernel_name: str | None = None,
               png: bool | None = None, cell_timeout: float | None = DEFAULT_CELL_TIMEOUT) -> ReportResult:
    """Validate, execute and export every selected notebook; see the module docstring.

    ``png``: ``None`` exports PNGs when a browser is found, ``False`` never, ``True`` always (an export error
    then fails the notebook). Raises ``ValueError`` for bad parameters (before running anything) and
    `NotebookExecutionError` when a notebook fails.
    """
    from tqdm.auto import tqdm

    plans = plan_report(preset, params, notebooks_dir, only)
    out = Path(out_dir).resolve()
    figs = Path(figures_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    figs.mkdir(parents=True, exist_ok=True)
    runs: list[NotebookRun] = []
    start = time.perf_counter()
    with python_kernel(kernel_name) as kernel:
        bar = tqdm(plans, desc="notebooks", unit="nb", file=sys.stderr)
        for plan in bar:
            bar.set_postfix_str(plan.name)
            run = execute_notebook(plan, out, figs, kernel, png, cell_timeout)
            runs.append(run)
            bar.write(f"{plan.name}: {run.status} in {run.seconds:.1f} s")
            if run.status != "ok":
                bar.close()
                write_index(out, runs, preset)
                raise NotebookExecutionError(run.error, plan.name, run.executed if run.executed.exists() else None)
        bar.close()
    index = write_index(out, runs, preset)
    return ReportResult(out, index, figs, preset, runs, time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------- CLI

def parse_cli_parameters(pairs: list[tuple[str, str]] | None, notebooks_dir="notebooks",
                         only=None) -> dict[str, dict[str, Any]]:
    """``-p NAME VALUE`` pairs as per-notebook parameters, each value parsed for that notebook's default.

    ``NAME`` applies to every selected notebook declaring it; ``NOTEBOOK.NAME`` (``01_modal_imbalance.seed``)
    to one notebook. Global pairs are applied first, so a notebook-specific pair wins.
    """
    paths = select_notebooks(discover_notebooks(notebooks_dir), only)
    defaults = {p.stem: notebook_parameters(p) for p in paths}
    out: dict[str, dict[str, Any]] = {}
    ordered = sorted(pairs or [], key=lambda kv: "." in kv[0])
    for name, text in ordered:
        if "." in name:
            nb, pname = name.split(".", 1)
            nb = select_notebooks(paths, [nb])[0].stem
            targets = [nb] if pname in defaults[nb] else []
            if not targets:
                raise ValueError(f"-p {name}: notebook {nb} has no parameter {pname!r}; "
                                 f"known: {', '.join(sorted(defaults[nb])) or 'none'}")
        else:
            pname = name
            targets = [nb for nb in defaults if pname in defaults[nb]]
            if not targets:
                known = sorted(set().union(*[set(d) for d in defaults.values()]))
                raise ValueError(f"-p {name}: no selected notebook declares it; known: {', '.join(known) or 'none'}")
        for nb in targets:
            try:
                out.setdefault(nb, {})[pname] = parse_cli_value(text, defaults[nb][pname])
            except ValueError as e:
                raise ValueError(f"-p {name} {text}: notebook {nb}: {e}") from None
    return out


def add_report_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``report`` to an argparse ``subparsers`` object; the parser's ``func`` is `cmd_report`."""
    p = subparsers.add_parser("report", help="run the notebooks headless and export HTML, PNG and an index",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="fast", help="parameter preset: fast (CI sizes) or full (default: fast)")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="override a parameter (NAME for every notebook with it, or NOTEBOOK.NAME); "
                        "VALUE is a Python literal, or plain text for string parameters")
    p.add_argument("--out", default="reports/latest", help="folder for executed notebooks, HTML and index.html")
    p.add_argument("--figures", default="figures", help="folder for the exported figures (HTML + PNG)")
    p.add_argument("--notebooks", default="notebooks", help="folder holding the NN_*.ipynb notebooks")
    p.add_argument("--only", nargs="+", default=None, metavar="NOTEBOOK", help="run only these (name or number)")
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: this Python interpreter)")
    p.add_argument("--no-png", action="store_true", help="skip PNG export of figures")
    p.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT,
                   help=f"seconds one cell may run before the notebook fails (default {DEFAULT_CELL_TIMEOUT:g}; "
                        "0: no limit)")
    p.set_defaults(func=cmd_report)
    return p


def cmd_report(args) -> int:
    """Run the report from parsed arguments; print where to look. 0 on success, 1 when a notebook fails."""
    params = parse_cli_parameters(args.param, args.notebooks, args.only)
    try:
        result = run_report(args.preset, params, args.out, args.figures, args.notebooks, args.only,
                            args.kernel, png=False if args.no_png else None,
                            cell_timeout=args.cell_timeout or None)
    except NotebookExecutionError as e:
        print(f"vlr-viz report: {e}", file=sys.stderr)
        print(f"index        {Path(args.out).resolve() / 'index.html'}", file=sys.stderr)
        return 1
    print(f"report       {result.index_html}")
    print(f"notebooks    {result.out_dir}  ({len(result.notebooks)} executed, {result.seconds:.1f} s)")
    print(f"figures      {result.figures_dir}")
    return 0
