"""The headline tables of a report, rebuilt from the numbers the notebooks record (`vlr_viz.metrics_log.record`).

Three recorded shapes are recognised, whichever notebook recorded them:

* ``table`` and ``table_std``: ``{"condition/method/column": mean}`` and the standard deviations over seeds
  (notebook 04): the rebalancing table, each method's difference to ``baseline`` judged against the seed
  spread (held when ``|mean_m - mean_b| > std_m + std_b``, the rule notebook 04 prints);
* values ``{"image_ndcg10", "text_ndcg10", "imbalance_index"}`` recorded as ``"<modality>_<kind>_<severity>"``
  (notebook 01): the teachers' imbalance index per degradation condition;
* ``map_vs_bits`` / ``rsum_vs_bits`` / ``dead_codewords_percent``: ``{"<supervision>_<bits>": value}``
  (notebook 06): the retrieval codes table.

A shape that is absent or malformed gives no headline (the report never fails for its index).
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

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

def _by_supervision_and_bits(values: Any) -> dict[tuple[str, int], float]:
    out = {}
    if not isinstance(values, dict):
        return out
    for key, value in values.items():
        supervision, _, bits = str(key).rpartition("_")
        number = _number(value)
        if supervision and bits.isdigit() and number is not None:
            out[(supervision, int(bits))] = number
    return out


def codes_headline(name: str, metrics: dict[str, Any]) -> Headline | None:
    """mAP, RSUM and dead codewords of every code length and supervision (and the float teacher)."""
    maps = _by_supervision_and_bits(metrics.get("map_vs_bits"))
    if not maps:
        return None
    rsums = _by_supervision_and_bits(metrics.get("rsum_vs_bits"))
    dead = _by_supervision_and_bits(metrics.get("dead_codewords_percent"))
    rows = [[html.escape(sup), str(bits), _fmt(value), _fmt(rsums.get((sup, bits))), _fmt(dead.get((sup, bits)), 1)]
            for (sup, bits), value in sorted(maps.items(), key=lambda kv: (kv[0][0], kv[0][1]))]
    table = _table(["supervision", "bits", "mAP (%)", "RSUM", "dead codewords (%)"], rows)
    findings = ["mAP with category relevance (mean of image→text and text→image) and cross-modal RSUM on the "
                "test split; a float teacher row is the uncompressed common space."]
    return Headline("Retrieval with product-quantised codes", name, table, findings)


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
