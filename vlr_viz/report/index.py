"""``<out>/index.html``: the report as a page to read.

It opens with the headline results (`vlr_viz.report.headlines`: the rebalancing table with its verdict, the
imbalance index per condition, the codes table), then where the time went (wall time and peak memory of every
notebook), then one section per notebook: its title and lead sentence, its figures at a readable size, each with a
caption saying what it shows and how to read it (`vlr_viz.report.captions`; the figure's title is its alt text), and
links to the HTML export, the executed notebook and the recorded numbers (the metrics JSON, also listed in a folded
table). Figure PNGs are shown from the report's figures folder, or copied under ``<out>/images/<notebook>/`` when the
figures were written outside the report folder, so that the folder stands on its own.
"""
from __future__ import annotations

import html
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat

from ..atomic import atomic_write_bytes
from .captions import figure_caption
from .headlines import report_headlines
from .timing import MEMORY_NOTE, format_bytes, format_load, format_seconds

IMAGES_DIR = "images"

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{margin-top:1.6em} h2 a,h3 a{text-decoration:none}
section{border-top:1px solid #ccc;padding:.3em 0 1em}
.meta{color:#555;font-size:90%} .failed{color:#b00;font-weight:bold} .ok{color:#1b7837}
nav a{margin-right:1em;white-space:nowrap;display:inline-block}
table{border-collapse:collapse;font-size:90%;margin:.5em 0}
th{text-align:left;border-bottom:1px solid #999;padding:.2em .8em .2em 0}
td{padding:.15em .8em .15em 0;font-variant-numeric:tabular-nums;vertical-align:top}
table.headline tbody tr:nth-child(even){background:#f6f6f6}
td.gain{color:#1b7837;font-weight:600} td.loss{color:#b2182b;font-weight:600} .delta{font-size:85%}
td.within .delta,td.unjudged .delta{color:#777}
ul.findings{margin:.3em 0 1em;padding-left:1.2em}
figure{margin:1.2em 0} figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{color:#444;font-size:92%;margin-top:.3em}
.bar{display:inline-block;height:.8em;background:#4477aa;vertical-align:middle}
pre{background:#fee;padding:.5em;white-space:pre-wrap} pre.params{background:#f4f4f4}
details{margin:.5em 0} summary{cursor:pointer;color:#335}
"""


def format_value(value: Any) -> str:
    """A recorded value for a table cell: 4 significant digits, long lists shortened."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and len(value) > 8:
        return "[" + ", ".join(format_value(v) for v in value[:8]) + f", … ({len(value)} values)]"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``[("a.b", value), ...]`` for nested recorded dicts."""
    rows = []
    for k, v in metrics.items():
        if isinstance(v, dict):
            rows.extend(flatten_metrics(v, f"{prefix}{k}."))
        else:
            rows.append((prefix + k, v))
    return rows


def notebook_title(path: Path) -> tuple[str, str]:
    """``(title, lead)`` from the notebook's first markdown cell: its ``#`` heading and its first sentence."""
    try:
        cells = nbformat.read(str(path), as_version=4).cells
    except (OSError, ValueError):
        return path.stem, ""
    source = next((c.source for c in cells if c.cell_type == "markdown"), "")
    lines = source.strip().splitlines()
    if not lines or not lines[0].startswith("#"):
        return path.stem, ""
    title = lines[0].lstrip("#").strip()
    text = " ".join(line.strip() for line in lines[1:]).strip()
    match = re.match(r"(.+?[.?!])(\s|$)", text)
    return title, (match.group(1) if match else text)


def _image_in(out_dir: Path, png: Path, notebook: str, name: str) -> str:
    """The path, relative to ``out_dir``, of a figure's PNG inside the report folder: where it lies when the figures
    are written inside it (the default), else a copy under ``images/<notebook>/``."""
    if png.resolve().is_relative_to(out_dir.resolve()):
        return png.resolve().relative_to(out_dir.resolve()).as_posix()
    target = out_dir / IMAGES_DIR / notebook / f"{name}.png"
    atomic_write_bytes(target, png.read_bytes())
    return target.relative_to(out_dir).as_posix()


def _figure_blocks(out_dir: Path, run) -> list[str]:
    esc = html.escape
    blocks = []
    for fig_name, entry in run.figures.items():
        title, caption = esc(entry.get("title") or fig_name), esc(figure_caption(fig_name, entry))
        interactive = entry.get("html")
        link = (os.path.relpath(interactive, out_dir).replace(os.sep, "/")
                if interactive and Path(interactive).exists() else None)
        png = entry.get("png")
        more = f" · <a href='{esc(link)}'>interactive</a>" if link else ""
        if png and Path(png).exists():
            rel = _image_in(out_dir, Path(png), run.name, fig_name)
            blocks.append(f"<figure id='{esc(run.name)}-{esc(fig_name)}'><img src='{esc(rel)}' alt='{title}' "
                          f"loading='lazy'><figcaption>{caption}{more}</figcaption></figure>")
        else:
            guide = f": {caption}" if caption != title else ""
            blocks.append(f"<p class='meta'>figure <b>{title}</b> (no PNG: no browser for export){guide}{more}</p>")
    return blocks


def _time_section(runs) -> str:
    esc = html.escape
    total = sum(r.seconds for r in runs) or 1.0
    rows = "".join(
        f"<tr><td><a href='#{esc(r.name)}'>{esc(r.name)}</a></td><td class='{esc(r.status)}'>{esc(r.status)}</td>"
        f"<td>{format_seconds(r.seconds)}</td><td><span class='bar' style='width:{12 * r.seconds / total:.2f}em'>"
        f"</span> {100 * r.seconds / total:.0f} %</td><td>{format_bytes(r.peak_pss)}</td>"
        f"<td>{format_bytes(r.peak_rss)}</td></tr>" for r in runs)
    return ("<section id='time'><h2>Where the time goes</h2><table><thead><tr><th>notebook</th><th>status</th>"
            "<th>wall time</th><th>share</th><th>peak memory</th><th>summed RSS</th></tr></thead><tbody>" + rows
            + f"</tbody></table><p class='meta'>{esc(MEMORY_NOTE[0].upper() + MEMORY_NOTE[1:])}, sampled four "
            "times a second.</p></section>")


def write_index(out_dir: Path, runs, preset: str, seconds: float | None = None, load_before=None,
                load_after=None) -> Path:
    """Write ``out_dir/index.html`` (see the module docstring) and return its path."""
    esc = html.escape
    out_dir = Path(out_dir)
    total = sum(r.seconds for r in runs) if seconds is None else seconds
    peak = max((r.peak_pss for r in runs), default=0)
    failed = [r.name for r in runs if r.status != "ok"]
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>vlr_viz report</title>"
             f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{_STYLE}</style></head>"
             f"<body><h1>vlr_viz report</h1>"
             f"<p class='meta'>preset <b>{esc(preset)}</b> · "
             f"{esc(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))} · {len(runs)} notebook(s) in "
             f"{format_seconds(total)} · peak memory {format_bytes(peak)} · load average {format_load(load_before)} "
             f"before, {format_load(load_after)} after</p>"]
    if failed:
        parts.append(f"<p class='failed'>failed: {esc(', '.join(failed))}</p>")
    headlines = report_headlines(runs)
    nav = ([("headlines", "Headline results")] if headlines else []) + [("time", "Where the time goes")] + \
        [(r.name, r.name) for r in runs]
    parts.append("<nav>" + "".join(f"<a href='#{esc(a)}'>{esc(t)}</a>" for a, t in nav) + "</nav>")
    if headlines:
        parts.append("<section id='headlines'><h2>Headline results</h2>")
        for h in headlines:
            parts.append(f"<h3>{esc(h.title)} <span class='meta'>(<a href='#{esc(h.notebook)}'>"
                         f"{esc(h.notebook)}</a>)</span></h3>{h.table_html}")
            if h.findings:
                parts.append("<ul class='findings'>" + "".join(f"<li>{esc(f)}</li>" for f in h.findings) + "</ul>")
        parts.append("</section>")
    parts.append(_time_section(runs))
    for r in runs:
        title, lead = notebook_title(r.source)
        heading = f"<a href='{esc(r.html.name)}'>{esc(title)}</a>" if r.html else esc(title)
        links = ([f"<a href='{esc(r.html.name)}'>HTML</a>"] if r.html else []) + \
            [f"<a href='{esc(r.executed.name)}'>executed notebook</a>"] + \
            ([f"<a href='{esc(r.metrics_path.name)}'>recorded numbers (JSON)</a>"] if r.metrics_path.exists() else [])
        parts.append(f"<section id='{esc(r.name)}'><h2>{heading}</h2>"
                     + (f"<p>{esc(lead)}</p>" if lead else "")
                     + f"<p class='meta'><span class='{esc(r.status)}'>{esc(r.status)}</span> · "
                       f"{format_seconds(r.seconds)} · peak memory {format_bytes(r.peak_pss)} · "
                     + " · ".join(links) + "</p>")
        if r.error:
            parts.append(f"<pre>{esc(r.error)}</pre>")
        parts.extend(_figure_blocks(out_dir, r))
        rows = flatten_metrics(r.metrics)
        if rows:
            parts.append(f"<details><summary>all {len(rows)} recorded numbers</summary><table class='metrics'>"
                         + "".join(f"<tr><td>{esc(k)}</td><td>{esc(format_value(v))}</td></tr>" for k, v in rows)
                         + "</table></details>")
        if r.parameters:
            parts.append(f"<details><summary>parameters</summary><pre class='params'>"
                         f"{esc(json.dumps(r.parameters, indent=1))}</pre></details>")
        parts.append("</section>")
    parts.append("</body></html>")
    path = out_dir / "index.html"
    atomic_write_bytes(path, "\n".join(parts).encode())
    return path
