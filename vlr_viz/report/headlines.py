"""The headline tables of a report, rebuilt from the numbers the notebooks record (`vlr_viz.notebook.recording.record`).

Three recorded shapes are recognised, whichever notebook recorded them:

* ``table`` and ``table_std``: ``{"condition/method/column": mean}`` and the standard deviations over seeds
  (notebook 04): the rebalancing table, each method's difference to ``baseline`` judged against the seed
  spread (held when ``|mean_m - mean_b| > std_m + std_b``, the rule notebook 04 prints);
* values ``{"image_ndcg10", "text_ndcg10", "imbalance_index"}`` recorded as ``"<modality>_<kind>_<severity>"``
  (notebook 01): the teachers' imbalance index per degradation condition;
* ``codes_table``: ``{"<method>_<bits>/<rsum|rsum_std|map|map_std|bytes_per_item>": value}`` (notebook 06):
  the compact-codes table, DCMQ against FAISS PQ / OPQ, label-supervised codes and the float teacher, with
  ``dead_codewords_percent`` ``{"<supervision>_<bits>": value}`` beside the learned codes and the verdict
  against OPQ recorded as ``versus_opq``.

A shape that is absent or malformed gives no headline (the report never fails for its index).
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

from ..code_methods import LABELS as CODE_LABELS, SUPERVISION_METHOD

BASELINE = "baseline"


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

def _split_table_key(key: str) -> tuple[str, str, str] | None:
    parts = key.split("/", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def held_beyond_spread(mean: float, std: float, base_mean: float, base_std: float) -> bool | None:
    """Whether a method's difference to the baseline exceeds the sum of the two standard deviations over seeds;
    ``None`` when a standard deviation is unknown (one seed)."""
    spread = std + base_std
    if not math.isfinite(spread):
        return None
    return abs(mean - base_mean) > spread


def rebalancing_headline(name: str, metrics: dict[str, Any]) -> Headline | None:
    """The rebalancing table (mean ± std over seeds, the difference to the baseline) and one finding per method."""
    means, stds = metrics.get("table"), metrics.get("table_std", {})
    if not isinstance(means, dict) or not means or not isinstance(stds, dict):
        return None
    cells: dict[tuple[str, str, str], tuple[float, float]] = {}
    conditions, methods, columns = [], [], []
    for key, value in means.items():
        parts, mean = _split_table_key(key), _number(value)
        if parts is None or mean is None:
            return None
        std = _number(stds.get(key))
        cells[parts] = (mean, math.nan if std is None else std)
        for item, seen in zip(parts, (conditions, methods, columns)):
            if item not in seen:
                seen.append(item)
    if BASELINE not in methods:
        return None
    rows, classes = [], []
    counts = {m: {"held": 0, "gains": 0, "losses": 0, "cells": 0, "unjudged": 0} for m in methods if m != BASELINE}
    for cond in conditions:
        for method in methods:
            row, cls = [html.escape(cond), f"<code>{html.escape(method)}</code>"], ["", ""]
            for col in columns:
                mean, std = cells.get((cond, method, col), (math.nan, math.nan))
                text = _fmt(mean) + ("" if not math.isfinite(std) else f" ± {_fmt(std)}")
                base = cells.get((cond, BASELINE, col))
                c = ""
                if method != BASELINE and base is not None and math.isfinite(mean):
                    delta = mean - base[0]
                    held = held_beyond_spread(mean, std, *base)
                    tally = counts[method]
                    tally["cells"] += 1
                    if held is None:
                        tally["unjudged"] += 1
                        c = "unjudged"
                    elif held:
                        tally["held"] += 1
                        tally["gains" if delta > 0 else "losses"] += 1
                        c = "gain" if delta > 0 else "loss"
                    else:
                        c = "within"
                    text += f" <span class='delta'>({delta:+.2f})</span>"
                row.append(text)
                cls.append(c)
            rows.append(row)
            classes.append(cls)
    judged = {m: t for m, t in counts.items() if t["cells"] and t["unjudged"] < t["cells"]}
    findings = [f"{method}: beyond the seed spread in {t['held']} of {t['cells']} cells "
                f"({t['gains']} above the baseline, {t['losses']} below); within it in the rest."
                for method, t in judged.items()]
    if not judged and any(t["cells"] for t in counts.values()):
        findings.append("One seed: no standard deviation, so no difference to the baseline can be told from seed "
                        "noise (differences shown in grey).")
    table = _table(["condition", "method", *columns], rows, classes)
    return Headline("Rebalancing: every method against the matching-only baseline", name, table, findings)


# ----------------------------------------------------------------------------------------------- imbalance

_IMBALANCE_KEYS = {"image_ndcg10", "text_ndcg10", "imbalance_index"}


def imbalance_headline(name: str, metrics: dict[str, Any]) -> Headline | None:
    """The teachers' single-modal strength and imbalance index under each recorded degradation condition."""
    rows = []
    for key, value in metrics.items():
        if not (isinstance(value, dict) and _IMBALANCE_KEYS <= set(value)):
            continue
        modality, _, rest = key.partition("_")
        kind, _, severity = rest.rpartition("_")
        numbers = [_number(value[k]) for k in ("image_ndcg10", "text_ndcg10", "imbalance_index")]
        if not kind or None in numbers:
            return None
        rows.append([html.escape(modality), html.escape(kind), html.escape(severity),
                     _fmt(numbers[0]), _fmt(numbers[1]), _fmt(numbers[2], 3)])
    if not rows:
        return None
    table = _table(["degraded", "kind", "severity", "image NDCG@10", "text NDCG@10", "imbalance index"], rows)
    findings = ["Imbalance index (S_img − S_txt) / (S_img + S_txt) of the frozen teachers' category NDCG@10 on "
                "the test split: positive when the text side is the weaker one."]
    return Headline("Modal imbalance of the teachers per condition", name, table, findings)


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


def _opq_findings(versus_opq: Any) -> list[str]:
    """One sentence per code length from the recorded ``versus_opq`` (`vlr_viz.experiments.dcmq.versus_opq`:
    ``{"<bits>/rsum_gain" | "<bits>/map_gain" | "<bits>/beats_opq": value}``)."""
    by_bits: dict[int, dict] = {}
    for key, value in (versus_opq if isinstance(versus_opq, dict) else {}).items():
        bits, _, column = str(key).partition("/")
        if bits.isdigit():
            by_bits.setdefault(int(bits), {})[column] = _number(value)
    out = []
    for bits, v in sorted(by_bits.items()):
        if None not in (v.get("rsum_gain"), v.get("map_gain"), v.get("beats_opq")):
            verdict = "beats" if v["beats_opq"] else "does not beat"
            out.append(f"{bits} bits: DCMQ {verdict} FAISS OPQ (RSUM {v['rsum_gain']:+.2f}, "
                       f"mAP {v['map_gain']:+.2f}).")
    return out


def codes_headline(name: str, metrics: dict[str, Any]) -> Headline | None:
    """RSUM and category mAP (mean ± std over seeds) of every method and code length, bytes per item and, for the
    learned codes, the share of dead codewords; the recorded verdict against OPQ, one finding per code length."""
    table = metrics.get("codes_table")
    if not isinstance(table, dict):
        return None
    cells: dict[tuple[str, int], dict] = {}
    for key, value in table.items():
        where, _, column = str(key).rpartition("/")
        if column and (at := _method_and_bits(where)):
            cells.setdefault(at, {})[column] = value
    dead_values = metrics.get("dead_codewords_percent")
    dead = {at: _number(v) for k, v in (dead_values if isinstance(dead_values, dict) else {}).items()
            if (at := _method_and_bits(k))}
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
                "deterministic.", *_opq_findings(metrics.get("versus_opq"))]
    table_html = _table(["method", "bits", "bytes per item", "RSUM", "mAP (%)", "dead codewords (%)"], rows)
    return Headline("Retrieval with compact codes: DCMQ against FAISS PQ / OPQ", name, table_html, findings)


HEADLINE_BUILDERS = (rebalancing_headline, imbalance_headline, codes_headline)


def report_headlines(runs) -> list[Headline]:
    """Every headline the runs' recorded numbers allow, rebalancing first, then imbalance, then codes."""
    found = []
    for build in HEADLINE_BUILDERS:
        for r in runs:
            try:
                headline = build(r.name, r.metrics)
            except (TypeError, ValueError, KeyError):
                headline = None
            if headline is not None:
                found.append(headline)
    return found
