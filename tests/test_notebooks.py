"""The real notebooks run headless through the report (``--preset fast``) on the real Twemoji features; their
recorded numbers obey the formulas and directions they claim, and the exported HTML renders in Chromium. The report
is a folder one can send: copied elsewhere it links only inside itself, stays small, holds plotly.js once, and every
page draws its figures with the network blocked (notebook 05 showing its explorer's static snapshot); the index's
captions say how to read each figure."""
import html
import math
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from vlr_viz.report import discover_notebooks, run_report
from vlr_viz.results import ExplorerSweepResult, GeometryResult, ImbalanceSweepResult
from vlr_viz.viz.export import find_browser

from browser_servers import browser  # noqa: F401 (fixture)
from report_pages import files_holding, folder_bytes, offline_context, open_offline, outside_links, plotly_figures
from test_report_browser import RENDERED_SVG, chromium, dump_dom  # noqa: F401 (fixture)

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHANCE_RSUM = 2 * sum(100.0 * k / 1008 for k in (1, 5, 10))  # one caption per image, 1,008 test pairs
MAX_REPORT_BYTES = 20 * 10**6  # a fast report one can send

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The fast report as users get it: figures inside its folder (every test of the real notebooks shares it)."""
    tmp = tmp_path_factory.mktemp("notebooks")
    return run_report("fast", out_dir=tmp / "out", notebooks_dir=NOTEBOOKS)


@pytest.fixture(scope="module")
def sent(report, tmp_path_factory):
    """A copy of the report's folder somewhere else, as a reader receives it."""
    return Path(shutil.copytree(report.out_dir, tmp_path_factory.mktemp("sent") / "report"))


def test_every_notebook_runs_and_records_numbers_and_figures(report):
    names = [p.stem for p in discover_notebooks(NOTEBOOKS)]
    assert [r.name for r in report.notebooks] == names and len(names) == 6
    for run in report.notebooks:
        assert run.status == "ok", run.error
        assert run.metrics and run.figures, run.name
        for entry in run.figures.values():
            assert Path(entry["html"]).exists()
        executed = nbformat.read(str(run.executed), as_version=4)
        outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"], run.name
        noise = [o.text[:300] for o in outputs if o.output_type == "stream" and o.name == "stderr"]
        assert not noise, (run.name, noise)  # no warning, no progress bar
        assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
                    and "text/html" not in o.data], run.name  # every widget has a static form for nbconvert


def test_committed_notebooks_have_no_outputs_and_a_parameters_cell():
    for path in discover_notebooks(NOTEBOOKS):
        nb = nbformat.read(str(path), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path.name
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, path.name


def test_every_notebook_sets_up_its_figures_first_and_checks_its_parameters_next():
    for path in discover_notebooks(NOTEBOOKS):
        code = [c for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code"]
        at = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
        assert "setup_notebook()" in code[0].source and at == 1, path.name
        assert f'check_notebook_parameters("{path.stem}", globals())' in code[at + 1].source, path.name


def test_index_opens_with_the_headline_results(report):
    index = report.index_html.read_text()
    headlines = index[index.index("<h2>Headline results"):index.index("<h2>Where the time goes")]
    for title in ("Rebalancing: every method against the matching-only baseline",
                  "Modal imbalance of the teachers per condition",
                  "Retrieval with compact codes: DCMQ against FAISS PQ / OPQ"):
        assert title in headlines
    table = report.run("04_rebalancing_report").metrics["rebalancing"]["means"]
    assert all(f"{v:.2f}" in headlines for v in table.values())
    sweep = report.run("01_modal_imbalance").metrics["imbalance_sweep"]["rows"]
    occluded = next(r for r in sweep if r[:3] == ["image", "occlusion", 0.75])
    assert f"{occluded[5]:.3f}" in headlines
    codes = report.run("06_efficient_retrieval").metrics["codes"]["table"]
    assert all(f"{v:.2f}" in headlines for k, v in codes.items() if k.endswith(("/rsum", "/map")))
    for run in report.notebooks:  # every figure shown at a readable size with its caption
        for name, entry in run.figures.items():
            if entry["png"]:
                assert f"<img src='figures/{run.name}/{name}.png' alt='{html.escape(entry['title'])}'" in index


def _findings_under(index: str, title: str) -> list[str]:
    """The finding lines of the headline ``title`` on the index page, as text."""
    section = index[index.index(f"<h3>{title}"):]
    findings = section[:section.index("</ul>")].split("<ul class='findings'>", 1)[1]
    return [html.unescape(f) for f in re.findall(r"<li>(.*?)</li>", findings, re.S)]


def test_headlines_say_what_the_notebooks_concluded(report):
    """Under each headline table stand the verdict sentences the notebook printed and recorded, word for word."""
    index = report.index_html.read_text()
    m04 = report.run("04_rebalancing_report").metrics["rebalancing"]
    executed = nbformat.read(str(report.run("04_rebalancing_report").executed), as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    findings = _findings_under(index, "Rebalancing: every method against the matching-only baseline")
    assert findings == [m04["caption"], *m04["verdicts"].values()]
    assert all(v in printed for v in m04["verdicts"].values()) and len(m04["verdicts"]) == 4
    assert "over 2 seeds" in findings[0] and not any("One seed" in f for f in findings)
    m06 = report.run("06_efficient_retrieval").metrics["codes"]
    findings = _findings_under(index, "Retrieval with compact codes: DCMQ against FAISS PQ / OPQ")
    assert findings[1:] == m06["sentences"] and len(m06["sentences"]) == 2  # the fast preset's 16 and 32 bits
    for bits in (16, 32):
        beats = m06["versus_opq"][f"{bits}/beats_opq"]
        assert f"{bits} bits: DCMQ {'beats' if beats else 'does not beat'} FAISS OPQ" in findings[1 + (bits == 32)]
    m01 = report.run("01_modal_imbalance").metrics["natural_imbalance"]  # the fast preset's one dataset
    findings = _findings_under(index, "Natural imbalance of the datasets")
    assert findings[1:] == m01["sentences"] and m01["datasets"] == ["twemoji"]
    executed = nbformat.read(str(report.run("01_modal_imbalance").executed), as_version=4)
    assert m01["sentences"][0] in "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code"
                                          for o in c.outputs)


def test_modal_imbalance_index_follows_its_formula_and_degradation_weakens(report):
    m = report.run("01_modal_imbalance").metrics
    rows = ImbalanceSweepResult.from_record(m["imbalance_sweep"]).table()
    assert len(rows) == 4  # the fast preset: two severities of each modality
    for r in rows.itertuples(index=False):
        assert r.imbalance_index == pytest.approx((r.image_ndcg10 - r.text_ndcg10) / (r.image_ndcg10 + r.text_ndcg10))
    row = {f"{r.degraded}_{r.kind}_{r.severity:.2f}": r._asdict() for r in rows.itertuples(index=False)}
    clean, occluded = row["image_occlusion_0.00"], row["image_occlusion_0.75"]
    assert occluded["image_ndcg10"] < clean["image_ndcg10"] - 3  # occluding 75 % weakens the vision teacher
    assert occluded["text_ndcg10"] == pytest.approx(clean["text_ndcg10"])  # and leaves the text teacher alone
    assert row["text_word_replace_0.75"]["text_ndcg10"] < clean["text_ndcg10"] - 3


def test_04_rebalancing_table_is_far_above_chance_for_every_method(report):
    table = report.run("04_rebalancing_report").metrics["rebalancing"]["means"]
    rsum = {k: v for k, v in table.items() if k.endswith("/RSUM")}
    methods = {k.split("/")[1] for k in rsum}
    assert methods == {"baseline", "sad", "sad-kl", "sad-kl-reliability", "covlr"}
    assert all(v > 20 * CHANCE_RSUM for v in rsum.values()), rsum


def test_04_paired_cells_obey_their_own_statistics(report):
    m = report.run("04_rebalancing_report").metrics
    assert m["empty_queries"] == "skip"
    result = m["rebalancing"]
    for key, cell in {**result["paired"], **m["lambda_paired"]}.items():
        assert cell["n"] == 2, key  # the fast preset runs seeds 0 and 1
        assert cell["ci_low"] <= cell["diff"] <= cell["ci_high"], key
        assert cell["significant"] == (cell["p_holm"] <= 0.05) and cell["p_holm"] >= cell["p_ttest"], key
        condition, method, column = key.split("/")
        table = result["means"]
        reference = "sad-kl" if key in m["lambda_paired"] else "baseline"
        assert cell["diff"] == pytest.approx(table[f"{condition}/{method}/{column}"]
                                             - table[f"{condition}/{reference}/{column}"], abs=1e-9)
    assert set(result["verdicts"]) == {"sad", "sad-kl", "sad-kl-reliability", "covlr"}
    for key, cell in m["bootstrap"].items():
        assert cell["ci_low"] <= cell["diff"] <= cell["ci_high"], key


def test_04_ndcg_conventions_and_lambda(report):
    m = report.run("04_rebalancing_report").metrics
    for key, row in m["ndcg_conventions"].items():  # zero = skip · (queries − empty) / queries, 1,008 queries
        assert row["zero"] == pytest.approx(row["skip"] * (1008 - row["empty"]) / 1008), key
    assert m["ndcg_conventions"]["clean/i2i"]["empty"] > 0
    sweep = m["lambda_sweep"]  # the category reliability follows the degraded modality
    assert sweep["image/moderate/labels"] > sweep["image/clean/labels"] > sweep["text/moderate/labels"]
    for condition, row in m["lambda_minima"].items():  # the learned λ stays where its landscape is flat: 0.5
        assert abs(row["learned"] - 0.5) < 0.02 and abs(row["argmin_teacher_terms"] - 0.5) <= 0.05, condition


def test_03_modality_gap_closes_along_its_vector(report):
    run = report.run("03_common_space_geometry")
    assert "modality_gap" in run.figures
    geometry = GeometryResult.from_record(run.metrics["geometry"])
    assert geometry.mean_image_knn_moved > 0 and set(geometry.gap_shift) == {"baseline", geometry.structure_recipe}
    for model, curve in geometry.gap_shift.items():
        assert curve["1"]["gap"] < 0.1 * curve["0"]["gap"], model  # shift 1 brings the centroids together
        assert curve["-0.5"]["gap"] > curve["0"]["gap"], model


def test_explorer_sweep_shows_the_text_degradation(report):
    sweep = ExplorerSweepResult.from_record(report.run("05_imbalance_explorer").metrics["explorer_sweep"]).sweep
    for w in ("0", "2"):
        assert sweep[f"w{w}/s0.25/rsum"] < sweep[f"w{w}/s0/rsum"]
        assert sweep[f"w{w}/s0.25/student text ndcg@10"] < sweep[f"w{w}/s0/student text ndcg@10"]


def test_06_codes_table_beats_chance_and_compares_with_faiss(report):
    m = report.run("06_efficient_retrieval").metrics["codes"]
    table = m["table"]
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
    assert not math.isnan(sum(v for v in run.metrics["rebalancing"]["means"].values()))


def test_a_warm_report_trains_nothing_and_gives_the_same_numbers(report, tmp_path):
    """Run the training notebooks again after the report: every run comes from the run store (no new entry), every
    evaluation and analysis is read back (no stored table is written again) and every recorded number is the same."""
    from vlr_viz.store.runs import RunStore

    store = RunStore()
    before = {e["key"] for e in store.entries()}
    assert before, "the report stored its runs"

    def stored_tables() -> dict:
        return {p: p.stat().st_mtime_ns for folder in ("evaluations", "analyses")
                for p in (store.root / folder).rglob("*.json")}

    tables = stored_tables()
    assert {p.parent.name for p in tables} >= {"evaluations", "query_bootstrap", "reliability_lambda",
                                               "lambda_landscape", "run_summary"}
    again = run_report("fast", out_dir=tmp_path / "out", figures_dir=tmp_path / "figs", notebooks_dir=NOTEBOOKS,
                       only=["02_relation_drift", "04_rebalancing_report"], png=False)
    assert {e["key"] for e in store.entries()} == before
    assert stored_tables() == tables
    first = {r.name: r.metrics for r in report.notebooks}
    for run in again.notebooks:
        assert run.status == "ok", run.error
        assert run.metrics == first[run.name], run.name


def test_a_copied_report_links_only_inside_itself_and_is_small(report, sent):
    pages = sorted(sent.rglob("*.html"))
    n_figures = sum(len(r.figures) for r in report.notebooks)
    assert len(pages) == 1 + len(report.notebooks) + n_figures  # index, notebook exports, figure pages
    assert outside_links(sent) == []
    assert folder_bytes(sent) <= MAX_REPORT_BYTES, folder_bytes(sent)
    from plotly.offline import get_plotlyjs

    header = get_plotlyjs()[:200].split("*/")[0]  # the bundle's licence header, naming its version
    assert "plotly.js v" in header
    assert files_holding(sent, header) == [Path("figures/plotly.min.js")]
    explorer = (sent / "05_imbalance_explorer.ipynb").read_text()
    assert "application/vnd.jupyter.widget-view+json" not in explorer  # nothing left for "model not found"
    assert "application/vnd.jupyter.widget-state+json" not in explorer


@pytest.mark.browser
def test_every_page_of_a_copied_report_draws_offline(report, sent, browser):  # noqa: F811
    refused: list[str] = []
    context = offline_context(browser, refused)
    try:
        for page_file in sorted(sent.rglob("*.html")):
            figures = plotly_figures(page_file.read_text())
            page, errors = open_offline(context, page_file, figures)
            where = page_file.relative_to(sent)
            assert errors == [], (where, errors)
            assert page.locator(".js-plotly-plot").count() == figures, where
            if page_file.name == "index.html":  # every figure's PNG loads
                page.evaluate("() => document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")
                page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=60_000)
                sizes = page.evaluate("() => [...document.images].map(i => i.naturalWidth)")
                assert len(sizes) == sum(bool(e["png"]) for r in report.notebooks for e in r.figures.values())
                assert all(width > 0 for width in sizes), sizes
            if page_file.name == "05_imbalance_explorer.html":  # the explorer's snapshot stands in for the widget
                snapshot = page.locator(".vlr-explorer-snapshot")
                assert snapshot.count() == 1 and snapshot.is_visible()
                assert snapshot.locator(".js-plotly-plot .main-svg").first.is_visible()
                assert snapshot.locator(".js-plotly-plot").count() == 2  # common space and relations
                assert snapshot.locator(".heatmaplayer image").count() >= 6  # the relation matrices drawn
                assert "controls need a live kernel" in snapshot.inner_text()
                assert re.search(r"rsum\s+[0-9.]+", snapshot.locator(".vlr-explorer-metrics").inner_text())
                assert "Error displaying widget" not in page.inner_text("body")
            page.close()
    finally:
        context.close()
    assert refused == []  # nothing asked for the network


def test_index_captions_say_how_to_read_each_figure_not_its_title(report):
    if find_browser() is None:
        pytest.skip("no Chrome/Chromium here: the index shows no figure without its PNG")
    index = report.index_html.read_text()
    captions = []
    for run in report.notebooks:
        for name, entry in run.figures.items():
            found = re.search(rf"<figure id='{run.name}-{name}'>.*?<figcaption>(.*?)</figcaption>", index, re.S)
            assert found, (run.name, name)
            caption = html.unescape(re.sub(r" · <a [^>]*>interactive</a>$", "", found.group(1)))
            title = entry["title"]
            assert title and caption != title and title not in caption, (name, caption)
            assert len(caption.split()) >= 25 and caption.rstrip().endswith("."), (name, caption)
            captions.append(caption)
    assert len(captions) >= 15 and len(set(captions)) == len(captions)  # one guide per figure, none shared
