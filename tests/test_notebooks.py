"""The real notebooks run headless through the report (``--preset fast``) on the real Twemoji features; their
recorded numbers obey the formulas and directions they claim, and the exported HTML renders in Chromium."""
import math
import re
from pathlib import Path

import nbformat
import pytest

from vlr_viz.report import discover_notebooks, run_report

from test_report_browser import RENDERED_SVG, chromium, dump_dom  # noqa: F401 (fixture)

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHANCE_RSUM = 2 * sum(100.0 * k / 1008 for k in (1, 5, 10))  # one caption per image, 1,008 test pairs

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("notebooks")
    return run_report("fast", out_dir=tmp / "out", figures_dir=tmp / "figs", notebooks_dir=NOTEBOOKS)


def test_every_notebook_runs_and_records_numbers_and_figures(report):
    names = [p.stem for p in discover_notebooks(NOTEBOOKS)]
    assert [r.name for r in report.notebooks] == names and len(names) == 6
    for run in report.notebooks:
        assert run.status == "ok", run.error
        assert run.metrics and run.figures, run.name
        for entry in run.figures.values():
            assert Path(entry["html"]).exists()
        executed = nbformat.read(str(run.executed), as_version=4)
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors, run.name


def test_committed_notebooks_have_no_outputs_and_a_parameters_cell():
    for path in discover_notebooks(NOTEBOOKS):
        nb = nbformat.read(str(path), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path.name
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, path.name


def test_modal_imbalance_index_follows_its_formula_and_degradation_weakens(report):
    m = report.run("01_modal_imbalance").metrics
    for key, row in m.items():
        if isinstance(row, dict) and "imbalance_index" in row:
            s_img, s_txt = row["image_ndcg10"], row["text_ndcg10"]
            assert row["imbalance_index"] == pytest.approx((s_img - s_txt) / (s_img + s_txt))
    clean, occluded = m["image_occlusion_0.00"], m["image_occlusion_0.75"]
    assert occluded["image_ndcg10"] < clean["image_ndcg10"] - 3  # occluding 75 % weakens the vision teacher
    assert occluded["text_ndcg10"] == pytest.approx(clean["text_ndcg10"])  # and leaves the text teacher alone
    assert m["text_word_replace_0.75"]["text_ndcg10"] < clean["text_ndcg10"] - 3


def test_rebalancing_table_is_far_above_chance_for_every_method(report):
    table = report.run("04_rebalancing_report").metrics["table"]
    rsum = {k: v for k, v in table.items() if k.endswith("/RSUM")}
    methods = {k.split("/")[1] for k in rsum}
    assert methods == {"baseline", "sad", "sad-kl", "covlr"}
    assert all(v > 20 * CHANCE_RSUM for v in rsum.values()), rsum


def test_explorer_sweep_shows_the_text_degradation(report):
    sweep = report.run("05_imbalance_explorer").metrics["sweep"]
    for w in ("0", "2"):
        assert sweep[f"w{w}/s0.25/rsum"] < sweep[f"w{w}/s0/rsum"]
        assert sweep[f"w{w}/s0.25/student text ndcg@10"] < sweep[f"w{w}/s0/student text ndcg@10"]


def test_06_codes_table_beats_chance_and_compares_with_faiss(report):
    m = report.run("06_efficient_retrieval").metrics
    table = m["codes_table"]
    chance = 100 * 0.37  # about 37 %: one category holds most items (tests/test_dcmq.py computes it exactly)
    methods = ("dcmq", "labels", "faiss_pq", "faiss_opq")
    for method in methods:
        for bits in (16, 32):
            assert table[f"{method}_{bits}/map"] > chance, (method, bits)
            assert table[f"{method}_{bits}/rsum"] > 10 * CHANCE_RSUM, (method, bits)
            assert table[f"{method}_{bits}/bytes_per_item"] == bits / 8
    assert table["float_8192/bytes_per_item"] == 1024
    verdict = m["versus_opq"]
    for bits in (16, 32):
        gain = table[f"dcmq_{bits}/rsum"] - table[f"faiss_opq_{bits}/rsum"]
        assert verdict[f"{bits}/rsum_gain"] == pytest.approx(gain)
    assert set(m["monotone_in_bits"]) == {f"{k}/{x}" for k in methods for x in ("rsum", "map")}


def test_report_html_renders_its_figures_in_chromium(report, chromium, tmp_path):  # noqa: F811
    run = report.run("04_rebalancing_report")
    dom = dump_dom(chromium, run.html, tmp_path)
    assert dom.count('class="plot-container plotly"') >= len(run.figures) >= 1
    assert len(RENDERED_SVG.findall(dom)) >= len(run.figures)
    assert re.search(r'class="scatterlayer[^"]*"', dom) and "class=\"point\"" in dom  # the points were drawn
    assert not math.isnan(sum(v for v in run.metrics["table"].values()))
