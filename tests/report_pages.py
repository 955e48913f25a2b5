"""Helpers of the tests that treat a report folder as something sent to a reader: its links, its size, its copies of
plotly.js, and its pages opened in headless Chromium with every request off this machine refused."""
from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

LINK = re.compile(r"""<[a-z][^>]*?\s(?:href|src)\s*=\s*(["'])(.*?)\1""", re.I | re.S)
"""An ``href`` or ``src`` attribute of an HTML element (not text that mentions one: a script's own strings)."""
PLOTLY_DIV = re.compile(r"""<div\b[^>]*\bclass=["'][^"']*\b(?:plotly-graph-div|vlr-snapshot-figure)\b""")
"""A plotly figure's placeholder: plotly's own (``to_html``) or the explorer snapshot's."""


def links(text: str) -> list[str]:
    """Every ``href`` / ``src`` value of the page ``text``, unescaped."""
    return [html.unescape(value) for _, value in LINK.findall(text)]


def outside_links(folder: Path) -> list[str]:
    """``"page: link"`` for every link of every HTML page under ``folder`` that does not name a file inside it: a
    URL with a scheme other than ``data:`` or a host, an absolute path, a path leaving the folder, a missing file."""
    root = folder.resolve()
    problems = []
    for page in sorted(folder.rglob("*.html")):
        for link in links(page.read_text(errors="replace")):
            url = urlsplit(link)
            if url.scheme == "data" or (not url.scheme and not url.netloc and not url.path):  # inline, '#anchor'
                continue
            target = (page.parent / unquote(url.path)).resolve()
            if url.scheme or url.netloc or url.path.startswith("/") or not target.is_relative_to(root) \
                    or not target.is_file():
                problems.append(f"{page.relative_to(folder)}: {link}")
    return problems


def folder_bytes(folder: Path) -> int:
    """The bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def files_holding(folder: Path, text: str) -> list[Path]:
    """The files under ``folder`` (relative paths) whose bytes contain ``text``."""
    needle = text.encode()
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes())


def plotly_figures(text: str) -> int:
    """How many plotly figures the page ``text`` holds (their placeholders, before any script ran)."""
    return len(PLOTLY_DIV.findall(text))


DRAWN = """n => {
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    return plots.length >= n && plots.every(p => p.querySelector('.main-svg') && p.querySelector('.trace, .hm')
                                            && p.getBoundingClientRect().height > 0);
}"""
"""In the page: at least ``n`` plotly figures drawn, each with its SVG, at least one trace and a height."""


def open_offline(context, page_file: Path, figures: int, timeout_ms: int = 60_000):
    """Open ``page_file`` in a new page of ``context`` (a Playwright browser context that aborts every request
    off this machine) and wait until ``figures`` plotly figures are drawn; the page and its uncaught errors."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_file.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
    if figures:
        page.wait_for_function(DRAWN, arg=figures, timeout=timeout_ms)
    return page, errors


def offline_context(browser, refused: list[str]):
    """A browser context in which every request but ``file://`` ones is aborted (and listed in ``refused``)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})

    def route(r):
        if r.request.url.startswith(("file://", "data:")):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return context
