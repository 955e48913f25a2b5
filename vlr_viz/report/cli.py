"""``vlr-viz report``: the command-line front of `vlr_viz.report.run_report`."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..errors import ConfigError
from .execute import DEFAULT_CELL_TIMEOUT, NotebookExecutionError
from .params import parse_cli_parameters
from .run import run_report
from .timing import timing_table


def add_report_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``report`` to an argparse ``subparsers`` object; the parser's ``func`` is `cmd_report`."""
    p = subparsers.add_parser("report", help="run the notebooks headless and export HTML, PNG and an index",
                              description="Run every notebooks/NN_*.ipynb headless with papermill, export HTML "
                                          "and PNG figures, and write an index page with the headline results.")
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
    p.add_argument("--jobs", type=int, default=1,
                   help="notebooks to run side by side, each in its own process (default 1); it pays where cores sit "
                        "idle (on 2 cores a warm full report took 49 s instead of 1:10, while a cold one, training "
                        "and extracting features side by side, took longer) and holds up to that many notebooks in "
                        "memory at once")
    p.set_defaults(func=cmd_report)
    return p


def cmd_report(args) -> int:
    """Run the report from parsed arguments; print where the time went and where to look. 0 on success, 1 when a
    notebook fails."""
    if not math.isfinite(args.cell_timeout) or args.cell_timeout < 0:
        raise ConfigError(f"--cell-timeout must be a number of seconds > 0 (or 0: no limit), got {args.cell_timeout:g}")
    params = parse_cli_parameters(args.param, args.notebooks, args.only)
    try:
        result = run_report(args.preset, params, args.out, args.figures, args.notebooks, args.only,
                            args.kernel, png=False if args.no_png else None,
                            cell_timeout=args.cell_timeout or None, jobs=args.jobs)
    except NotebookExecutionError as e:
        print(f"vlr-viz report: {e}", file=sys.stderr)
        print(f"index        {Path(args.out).resolve() / 'index.html'}", file=sys.stderr)
        return 1
    print(timing_table(result.notebooks, result.load_before, result.load_after, result.seconds))
    print(f"report       {result.index_html}")
    print(f"notebooks    {result.out_dir}  ({len(result.notebooks)} executed, {result.seconds:.1f} s)")
    print(f"figures      {result.figures_dir}")
    return 0
