"""``vlr-viz compare``: does a finding hold on every dataset? One table from the rebalancing results of several reports.

Each report's notebook 04 recorded a `vlr_viz.results.RebalancingResult` (paired Δ per seed against the baseline,
its t-interval and the test's outcome after Holm within that report). For every (condition, method, measure) that
all the reports share, the table puts each dataset's Δ and interval side by side, and says whether the finding holds
on all of them: ``gain on all`` (or ``loss on all``) when the paired test found it on every dataset after Holm,
``mixed`` when some found it and others not (or found the opposite), ``none`` when no dataset shows a difference.
Nothing is tested again: each outcome is the one its report recorded.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..atomic import atomic_write_bytes
from ..errors import RunFolderError
from ..notebook.recording import read_log
from ..results import RebalancingResult, ResultRecordError

NOTEBOOK = "04_rebalancing_report"


def read_rebalancing(report_dir) -> RebalancingResult:
    """The `RebalancingResult` a report's notebook 04 recorded (``<report>/04_rebalancing_report.metrics.json``)."""
    path = Path(report_dir) / f"{NOTEBOOK}.metrics.json"
    if not path.is_file():
        raise RunFolderError(f"{path} is missing: {report_dir} is not the folder of a report that ran notebook 04")
    metrics = read_log(path)["metrics"]
    if "rebalancing" not in metrics:
        raise RunFolderError(f"{path} holds no rebalancing result (a report of another version: run it again)")
    try:
        return RebalancingResult.from_record(metrics["rebalancing"])
    except ResultRecordError as e:
        raise RunFolderError(f"{path}: {e}") from None


def _verdict(outcomes: list[str]) -> str:
    if all(o == "gain" for o in outcomes):
        return "gain on all"
    if all(o == "loss" for o in outcomes):
        return "loss on all"
    return "none" if not any(o in ("gain", "loss") for o in outcomes) else "mixed"


def across_datasets(results: dict[str, RebalancingResult]) -> pd.DataFrame:
    """One row per (condition, method, measure) present in every result: per dataset (``results``' keys) the cell
    ``"+1.23 [+0.45, +2.01]"`` (``*`` when significant after Holm in its own report) and its outcome, then
    ``holds`` (`_verdict`)."""
    if len(results) < 2:
        raise ValueError(f"compare needs at least two results; got {len(results)}")
    shared = [k for k in next(iter(results.values())).paired if all(k in r.paired for r in results.values())]
    rows = []
    for key in shared:
        condition, method, column = key.split("/", 2)
        row = {"condition": condition, "method": method, "measure": column}
        outcomes = []
        for name, result in results.items():
            cell, outcome = result.paired[key], result.outcome(key)
            if cell["diff"] is None:
                row[name] = "n/a"
            else:
                interval = "" if cell["ci_low"] is None else f" [{cell['ci_low']:+.2f}, {cell['ci_high']:+.2f}]"
                row[name] = f"{cell['diff']:+.2f}{interval}" + (" *" if cell["significant"] else "")
            outcomes.append(outcome)
        row["holds"] = _verdict(outcomes)
        rows.append(row)
    return pd.DataFrame(rows, columns=["condition", "method", "measure", *results, "holds"])


def markdown(table: pd.DataFrame) -> str:
    """The table as a Markdown pipe table (as the README shows it)."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _names(results: list[tuple[Path, RebalancingResult]]) -> dict[str, RebalancingResult]:
    """Each result by its dataset spec, or by its report folder where two reports share a dataset."""
    specs = [r.dataset for _, r in results]
    return {(spec if specs.count(spec) == 1 else f"{spec} ({folder.name})"): r
            for (folder, r), spec in zip(results, specs)}


def cmd_compare(args) -> int:
    results = _names([(Path(d), read_rebalancing(d)) for d in args.reports])
    table = across_datasets(results)
    if table.empty:
        raise ValueError("the reports share no (condition, method, measure): compare reports of the same recipes")
    print(table.to_string(index=False))
    print("\nΔ = method − baseline over seeds, 95 % t-interval; * significant after Holm in its own report; "
          "holds: the paired test's outcome on every dataset.")
    if args.out:
        out = Path(args.out)
        data = table.to_csv(index=False) if out.suffix == ".csv" else markdown(table)
        atomic_write_bytes(out, data.encode())
        print(f"written {out.resolve()}")
    return 0


def add_compare_parser(sub) -> None:
    p = sub.add_parser("compare", help="one table of the rebalancing results of several reports (one per dataset): "
                                       "each dataset's paired Δ and whether the finding holds on all")
    p.add_argument("reports", nargs="+", metavar="REPORT", help="report folders (vlr-viz report --out)")
    p.add_argument("--out", default=None, help="also write the table: .md (Markdown) or .csv")
    p.set_defaults(func=cmd_compare)
