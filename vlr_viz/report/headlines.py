"""The headline tables of a report, shown from what the notebooks record (`vlr_viz.notebook.recording.record`).

Nothing here draws a conclusion: the verdicts are the ones the notebooks recorded with their results.

* ``rebalancing`` (notebook 04): a `vlr_viz.results.RebalancingResult`, the rebalancing table with the paired
  test's outcome per cell and the notebook's verdict sentences;
* ``imbalance_sweep`` (notebook 01): a `vlr_viz.results.ImbalanceSweepResult`, the teachers' imbalance index per
  degradation condition;
* ``natural_imbalance`` (notebook 01): a `vlr_viz.results.NaturalImbalanceResult`, each dataset's teacher strengths
  per caption-quality group and the teachers' kNN agreement, side by side, with the notebook's reading;
* ``codes`` (notebook 06): a `vlr_viz.results.CodesResult`, DCMQ against FAISS PQ / OPQ, label-supervised codes
  and the float teacher, with the dead codewords of the learned codes and the verdict against OPQ.

A recorded result that cannot be read (another version, a field of the wrong type) gives a headline that says so
instead of its table; the report never fails for its index.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

from ..code_methods import LABELS as CODE_LABELS, SUPERVISION_METHOD
from ..results import (CodesResult, ImbalanceSweepResult, NaturalImbalanceResult, RebalancingResult,
                       ResultRecordError)


@dataclass
class Headline:
    """One headline table: its title, the notebook it comes from, an HTML table and one-line findings."""

    title: str
    notebook: str
    table_html: str
    findings: list[str]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _table(head: list[str], rows: list[list[str]], classes: list[list[str]] | None = None) -> str:
    esc = html.escape
    out = ["<table class='headline'><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead>"
           "<tbody>"]
    for i, row in enumerate(rows):
        cls = classes[i] if classes else [""] * len(row)
        out.append("<tr>" + "".join(f"<td class='{c}'>{cell}</td>" for cell, c in zip(row, cls)) + "</tr>")
    return "".join(out) + "</tbody></table>"


# ----------------------------------------------------------------------------------------------- rebalancing

CELL_CLASS = {"gain": "gain", "loss": "loss", "unclear": "within", "n/a": "unjudged"}
"""CSS class of a cell by its outcome after Holm (`RebalancingResult.outcome`)."""


def rebalancing_headline(name: str, metrics: dict[str, Any]) -> Headline | None:
    """The rebalancing table notebook 04 recorded (`RebalancingResult`): mean ± std over seeds with Δ against the
    baseline, coloured by the outcome of the paired test after Holm, and the notebook's own verdict sentences."""
    if "rebalancing" not in metrics:
        return None
    result = RebalancingResult.from_record(metrics["rebalancing"])
    keys = [k.split("/", 2) for k in result.means]
    conditions, methods, columns = (list(dict.fromkeys(k[i] for k in keys)) for i in range(3))
    rows, classes = [], []
    for cond in conditions:
        for method in methods:
            row, cls = [html.escape(cond), f"<code>{html.escape(method)}</code>"], ["", ""]
            for col in columns:
                key = f"{cond}/{method}/{col}"
                mean, std = result.means.get(key), result.stds.get(key)
                text = _fmt(mean) + ("" if std is None else f" ± {_fmt(std)}")
                outcome = result.outcome(key)
                if outcome is not None and result.paired[key]["diff"] is not None:
                    text += f" <span class='delta'>({result.paired[key]['diff']:+.2f})</span>"
                row.append(text)
                cls.append(CELL_CLASS.get(outcome, ""))
            rows.append(row)
            classes.append(cls)
    table = _table(["condition", "method", *columns], rows, classes)
    return Headline("Rebalancing: every method against the matching-only baseline", name, table,
                    [result.caption, *result.verdicts.values()])


# ----------------------------------------------------------------------------------------------- imbalance

def imbalance_headline(name: str, metrics: dict[str, Any]) -> Headline | None:
    """The teachers' single-modal strength and imbalance index under each degradation condition, from notebook
    01's `ImbalanceSweepResult`."""
    if "imbalance_sweep" not in metrics:
        return None
    result = ImbalanceSweepResult.from_record(metrics["imbalance_sweep"])
    rows = [[html.escape(degraded), html.escape(kind), f"{severity:.2f}", _fmt(_number(image)), _fmt(_number(text)),
             _fmt(_number(index), 3)] for degraded, kind, severity, image, text, index in result.rows]
    if not rows:
        return None
    table = _table(["degraded", "kind", "severity", "image NDCG@10", "text NDCG@10", "imbalance index"], rows)
    findings = ["Imbalance index (S_img − S_txt) / (S_img + S_txt) of the frozen teachers' category NDCG@10 on "
                "the test split: positive when the text side is the weaker one."]
    return Headline("Modal imbalance of the teachers per condition", name, table, findings)


def natural_imbalance_headline(name: str, metrics: dict[str, Any]) -> Headline | None:
    """Per dataset and caption-quality group: both teachers' category NDCG@10 and their kNN agreement, from notebook
    01's `NaturalImbalanceResult`, with its sentences."""
    if "natural_imbalance" not in metrics:
        return None
    result = NaturalImbalanceResult.from_record(metrics["natural_imbalance"])
    table = result.table()
    groups = table[table.grouping == "caption quality"]
    wide = groups.pivot_table(index=["dataset", "group"], columns="measure", values="value", sort=False)
    counts = groups[groups.measure == "kNN agreement"].set_index(["dataset", "group"])["n"]
    rows = [[html.escape(str(d)), html.escape(str(g)), str(int(counts.get((d, g), 0))),
             _fmt(_number(r.get("image NDCG@10")), 1), _fmt(_number(r.get("text NDCG@10")), 1),
             _fmt(_number(r.get("kNN agreement")), 1)] for (d, g), r in wide.iterrows()]
    if not rows:
        return None
    findings = ["Clean test splits, no simulated degradation: each frozen teacher's category NDCG@10 (a query's "
                "near-duplicates left out) and the share of an image's 10 neighbours both teachers agree on.",
                *result.sentences]
    table_html = _table(["dataset", "captions", "images", "image NDCG@10", "text NDCG@10", "kNN agreement (%)"],
                        rows)
    return Headline("Natural imbalance of the datasets", name, table_html, findings)


# ----------------------------------------------------------------------------------------------- codes

def _method_and_bits(key: Any) -> tuple[str, int] | None:
    """``(method, bits)`` of a key ``"<method>_<bits>"`` (the method may itself contain ``_``), else ``None``."""
    method, _, bits = str(key).rpartition("_")
    return (method, int(bits)) if method and bits.isdigit() else None


def _mean_std(cell: dict, name: str) -> str:
    mean, std = _number(cell.get(name)), _number(cell.get(f"{name}_std"))
    if mean is None:
        return "–"
    return _fmt(mean) + (f" ± {_fmt(std)}" if std else "")


def codes_headline(name: str, metrics: dict[str, Any]) -> Headline | None:
    """RSUM and category mAP (mean ± std over seeds) of every method and code length, bytes per item and, for the
    learned codes, the share of dead codewords, from notebook 06's `CodesResult`, with its verdict sentences."""
    if "codes" not in metrics:
        return None
    result = CodesResult.from_record(metrics["codes"])
    cells: dict[tuple[str, int], dict] = {}
    for key, value in result.table.items():
        where, _, column = str(key).rpartition("/")
        if column and (at := _method_and_bits(where)):
            cells.setdefault(at, {})[column] = value
    dead = {at: _number(v) for k, v in result.dead_codewords_percent.items() if (at := _method_and_bits(k))}
    supervision_of = {m: s for s, m in SUPERVISION_METHOD.items()}
    order = {m: i for i, m in enumerate(CODE_LABELS)}
    rows = []
    for (method, bits), cell in sorted(cells.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])):
        if _number(cell.get("rsum")) is None:
            continue
        rows.append([html.escape(CODE_LABELS.get(method, method)), str(bits),
                     _fmt(_number(cell.get("bytes_per_item")), 0), _mean_std(cell, "rsum"), _mean_std(cell, "map"),
                     _fmt(dead.get((supervision_of.get(method, method), bits)), 1)])
    if not rows:
        return None
    findings = ["Cross-modal RSUM with float queries against the coded other modality and category mAP (mean of "
                "image→text and text→image) on the test split; learned codes mean ± std over seeds, FAISS "
                "deterministic.", *result.sentences]
    table_html = _table(["method", "bits", "bytes per item", "RSUM", "mAP (%)", "dead codewords (%)"], rows)
    return Headline("Retrieval with compact codes: DCMQ against FAISS PQ / OPQ", name, table_html, findings)


HEADLINE_BUILDERS = (rebalancing_headline, imbalance_headline, natural_imbalance_headline, codes_headline)


def report_headlines(runs) -> list[Headline]:
    """Every headline the runs' recorded numbers allow, rebalancing first, then imbalance (simulated, then
    natural), then codes."""
    found = []
    for build in HEADLINE_BUILDERS:
        for r in runs:
            try:
                headline = build(r.name, r.metrics)
            except ResultRecordError as e:
                headline = Headline(f"Unreadable result of {r.name}", r.name, "", [str(e)])
            except (TypeError, ValueError, KeyError):
                headline = None
            if headline is not None:
                found.append(headline)
    return found
