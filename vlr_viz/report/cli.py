"""``vlr-viz report``: the command-line front of `vlr_viz.report.run_report`."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..errors import ConfigError
from .execute import DEFAULT_CELL_TIMEOUT, NotebookExecutionError
from .figures import UPDATE_PRESET, check_figures_update, committed_figures_dir, update_committed_figures
from .params import parse_cli_parameters
from .run import run_report
from .timing import timing_table


def add_report_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``report`` to an argparse ``subparsers`` object; the parser's ``func`` is `cmd_report`."""
    p = subparsers.add_parser("report", help="run the notebooks headless and export HTML, PNG and an index",
                              description="Run every notebooks/NN_*.ipynb headless with papermill, export HTML "
                                          "and PNG figures, and write an index page with the headline results, all "
                                          "inside --out. The checkout's committed figures/ change only with "
                                          "--update-figures (make figures).")
    p.add_argument("--preset", default="fast", help="parameter preset: fast (CI sizes) or full (default: fast)")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="override a parameter (NAME for every notebook with it, or NOTEBOOK.NAME); "
                        "VALUE is a Python literal, or plain text for string parameters")
    p.add_argument("--out", default="reports/latest", help="folder for executed notebooks, HTML and index.html")
    p.add_argument("--figures", default=None, help="folder for the exported figures (HTML + PNG; default: "
                                                   "OUT/figures)")
    p.add_argument("--update-figures", action="store_true",
                   help=f"after a successful report, copy its PNGs over the committed figures/ next to the notebooks "
                        f"folder (only with --preset {UPDATE_PRESET}, no -p and PNG export: make figures)")
    p.add_argument("--notebooks", default="notebooks", help="folder holding the NN_*.ipynb notebooks")
    p.add_argument("--only", nargs="+", default=None, metavar="NOTEBOOK", help="run only these (name or number)")
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: this Python interpreter)")
    p.add_argument("--no-png", action="store_true", help="skip PNG export of figures")
    p.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT,
                   help=f"seconds one cell may run before the notebook fails (default {DEFAULT_CELL_TIMEOUT:g}; "
                        "0: no limit)")
    p.add_argument("--jobs", type=int, default=1,
                   help="notebooks to run side by side, each in its own process (default 1); it pays where cores sit "
                        "idle (a warm report; a cold one already trains on every core) and holds up to that many "
                        "notebooks in memory at once")
    p.set_defaults(func=cmd_report)
    return p


def cmd_report(args) -> int:
    """Run the report from parsed arguments; print where the time went and where to look. 0 on success, 1 when a
    notebook fails."""
    if not math.isfinite(args.cell_timeout) or args.cell_timeout < 0:
        raise ConfigError(f"--cell-timeout must be a number of seconds > 0 (or 0: no limit), got {args.cell_timeout:g}")
    params = parse_cli_parameters(args.param, args.notebooks, args.only)
    png = False if args.no_png else None
    if args.update_figures:
        check_figures_update(args.preset, params, png is not False)
        png = True  # every figure must have its PNG, or the notebook fails
    try:
        result = run_report(args.preset, params, args.out, args.figures, args.notebooks, args.only,
                            args.kernel, png=png,
                            cell_timeout=args.cell_timeout or None, jobs=args.jobs)
    except NotebookExecutionError as e:
        print(f"vlr-viz report: {e}", file=sys.stderr)
        print(f"index        {Path(args.out).resolve() / 'index.html'}", file=sys.stderr)
        return 1
    print(timing_table(result.notebooks, result.load_before, result.load_after, result.seconds))
    print(f"report       {result.index_html}")
    print(f"notebooks    {result.out_dir}  ({len(result.notebooks)} executed, {result.seconds:.1f} s)")
    print(f"figures      {result.figures_dir}")
    if args.update_figures:
        dest = committed_figures_dir(args.notebooks)
        written = update_committed_figures(result.notebooks, dest)
        print(f"committed    {len(written)} PNG(s) changed in {dest}")
    return 0
