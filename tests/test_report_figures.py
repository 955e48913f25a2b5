"""Where ``vlr-viz report`` writes figures: into its own folder only, in a checkout-like folder run the way users
run it (the real command line, default ``--out`` and ``--notebooks``); the committed ``figures/`` change only with
``--preset full --update-figures``."""
from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from vlr_viz.cli import main
from vlr_viz.viz.export import find_browser

from test_faults import one_error_line

FIXTURES = Path(__file__).parent / "fixtures_notebooks"
SENTINEL = b"\x89PNG committed figure"


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A folder laid out like the repository: ``notebooks/`` (the metric-and-figure fixture) and committed PNGs in
    ``figures/``, the working directory of the test."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(FIXTURES / "01_metric_figure.ipynb", tmp_path / "notebooks")
    for rel in ("01_metric_figure/squares.png", "explore/explorer.png"):
        (tmp_path / "figures" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "figures" / rel).write_bytes(SENTINEL + rel.encode())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path, with the hash of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.notebooks
def test_report_leaves_the_committed_figures_alone_and_links_inside_its_folder(checkout, capsys):
    committed = snapshot(checkout / "figures")
    assert main(["report", "--no-png"]) == 0
    assert snapshot(checkout / "figures") == committed
    out = checkout / "reports" / "latest"
    assert (out / "figures" / "01_metric_figure" / "squares.html").is_file()
    assert (out / "figures" / "plotly.min.js").is_file()
    index = (out / "index.html").read_text()
    links = re.findall(r"(?:href|src)='([^'#][^']*)'", index)
    assert "figures/01_metric_figure/squares.html" in links
    assert all(not link.startswith(("/", "..")) and (out / link).is_file() for link in links), links
    assert f"figures      {out / 'figures'}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, named", [
    (["--update-figures"], "--update-figures needs --preset full (the committed figures show the full preset), "
                           "got --preset fast"),
    (["--preset", "full", "--update-figures", "-p", "n_points", "2"],
     "takes no -p overrides (the committed figures show the full preset's own parameters), got -p n_points"),
    (["--preset", "full", "--update-figures", "--no-png"], "--update-figures needs the PNG export: drop --no-png"),
    (["--figures", "figures"], "holds the committed figures: a report writes its own"),
])
def test_committed_figures_are_refused_to_anything_but_a_full_update(checkout, capsys, argv, named):
    committed = snapshot(checkout / "figures")
    assert main(["report", *argv]) == 2
    one_error_line(capsys.readouterr().err, named)
    assert snapshot(checkout / "figures") == committed and not (checkout / "reports").exists()


@pytest.mark.notebooks
def test_update_figures_copies_the_full_reports_pngs_over_the_committed_ones(checkout, capsys):
    if find_browser() is None:
        pytest.skip("no Chrome/Chromium here: the PNG export needs one")
    assert main(["report", "--preset", "full", "--update-figures"]) == 0
    made = checkout / "reports" / "latest" / "figures" / "01_metric_figure" / "squares.png"
    committed = checkout / "figures" / "01_metric_figure" / "squares.png"
    assert made.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and committed.read_bytes() == made.read_bytes()
    assert (checkout / "figures" / "explore" / "explorer.png").read_bytes() == SENTINEL + b"explore/explorer.png"
    assert not list((checkout / "figures").rglob("*.html"))  # the PNGs only
    assert f"committed    1 PNG(s) changed in {checkout / 'figures'}" in capsys.readouterr().out
