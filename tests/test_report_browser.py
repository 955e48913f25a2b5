"""The exported HTML renders its plotly figures in headless Chromium with no network (plotly.js travels along)."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vlr_viz.report import run_report

FIXTURES = Path(__file__).parent / "fixtures_notebooks"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=10000",
]
RENDERED_SVG = re.compile(r"<svg[^>]*class=\"main-svg\"")


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@pytest.fixture(scope="module")
def chromium():
    path = chromium_path()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no chromium: the browser check must run in CI (apt-get install chromium)")
        pytest.skip("no chromium on this machine (install Debian's chromium to run the browser check)")
    return path


def dump_dom(chromium: str, html_file: Path, tmp_path: Path) -> str:
    """The DOM after scripts ran, from ``chromium --dump-dom`` on a file:// URL."""
    profile = tmp_path / f"profile-{html_file.stem}"
    profile.mkdir()
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                           html_file.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.browser
@pytest.mark.notebooks
def test_exported_html_renders_plotly_figures_offline(chromium, tmp_path):
    report = run_report("fast", out_dir=tmp_path / "out", figures_dir=tmp_path / "figs", notebooks_dir=FIXTURES,
                        only=["01"], png=False)
    run = report.run("01_metric_figure")
    html_file = run.html
    source = html_file.read_text()
    assert not RENDERED_SVG.search(source)  # before scripts run, only the figure's div and script are there

    dom = dump_dom(chromium, html_file, tmp_path)
    n_figures = len(run.figures)
    assert n_figures == 1
    assert dom.count('class="plot-container plotly"') == n_figures
    assert len(RENDERED_SVG.findall(dom)) >= n_figures
    assert re.search(r'class="scatterlayer[^"]*"', dom)  # the trace itself was drawn

    # the standalone figure page loads the shared plotly.min.js from the figures folder
    figure_dom = dump_dom(chromium, Path(run.figures["squares"]["html"]), tmp_path)
    assert figure_dom.count('class="plot-container plotly"') == 1 and RENDERED_SVG.search(figure_dom)

    index_dom = dump_dom(chromium, report.index_html, tmp_path)
    assert "01_metric_figure.html" in index_dom and "sum_of_squares" in index_dom
