"""The index page's headline tables, rebuilt from recorded numbers, checked against hand-worked cases."""
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from vlr_viz.report.headlines import (codes_headline, imbalance_headline, natural_imbalance_headline,
                                      rebalancing_headline, report_headlines)
from vlr_viz.report.index import write_index
from vlr_viz.results import (CodesResult, ExplorerSweepResult, GeometryResult, ImbalanceSweepResult,
                             NaturalImbalanceResult, RebalancingResult, RelationDriftResult, ResultRecordError)
from vlr_viz.stats import paired_table
from vlr_viz.experiments.dcmq import versus_opq

def rows(values: dict) -> pd.DataFrame:
    """Tidy per-seed rows as notebook 04 builds them: ``{(condition, method, column): [value per seed]}``."""
    return pd.DataFrame([{"condition": c, "method": m, "column": col, "seed": s, "value": v}
                         for (c, m, col), vs in values.items() for s, v in enumerate(vs)])


# clean/sad RSUM gains 4, 4.1, 4.2 on the three seeds (significant even after Holm); t2t goes -1, +1, -2 (unclear)
SEEDS = {("clean", "baseline", "RSUM"): [100.0, 101.0, 102.0], ("clean", "sad", "RSUM"): [104.0, 105.1, 106.2],
         ("clean", "baseline", "t2t"): [80.0, 80.0, 80.0], ("clean", "sad", "t2t"): [79.0, 81.0, 78.0]}


def study(values: dict) -> RebalancingResult:
    data = rows(values)
    return RebalancingResult.from_study(data, paired_table(data, baseline="baseline", by=["condition", "column"]))


def _cells(table_html):
    """{(condition, method): [(css class, text), ...]} of a headline table."""
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table_html.split("<tbody>")[1]):
        cells = re.findall(r"<td class='([^']*)'>(.*?)</td>", row)
        out[(cells[0][1], re.sub("<[^>]+>", "", cells[1][1]))] = cells[2:]
    return out


def test_rebalancing_headline_shows_the_recorded_result():
    result = study(SEEDS)
    record = json.loads(json.dumps(result.to_record()))  # as the report reads it back from the metrics file
    h = rebalancing_headline("04_rebalancing_report", {"rebalancing": record})
    cells = _cells(h.table_html)
    assert cells[("clean", "sad")] == [("gain", "105.10 ± 1.10 <span class='delta'>(+4.10)</span>"),
                                       ("within", "79.33 ± 1.53 <span class='delta'>(-0.67)</span>")]
    assert cells[("clean", "baseline")] == [("", "101.00 ± 1.00"), ("", "80.00 ± 0.00")]
    assert h.findings == [result.caption, result.verdicts["sad"]]  # the notebook's words, not the report's
    assert h.findings[1].startswith("sad: better than the baseline in 1 of 2 tested cells: RSUM (clean) +4.10")
    assert not any("One seed" in f for f in h.findings)


def test_rebalancing_headline_of_one_seed_says_why_nothing_is_tested():
    result = study({k: v[:1] for k, v in SEEDS.items()})
    h = rebalancing_headline("04", {"rebalancing": result.to_record()})
    assert {c for c, _ in _cells(h.table_html)[("clean", "sad")]} == {"unjudged"}
    assert result.stds["clean/sad/RSUM"] is None and "1 seed, no paired test" in h.findings[1]


def test_a_result_record_of_another_kind_version_or_shape_is_refused_by_name():
    record = study(SEEDS).to_record()
    assert RebalancingResult.from_record(json.loads(json.dumps(record))) == study(SEEDS)
    for bad, words in (({**record, "version": 0}, "version 0"), ({**record, "kind": "codes"}, "kind 'codes'"),
                       ({**record, "verdicts": []}, "field 'verdicts' is list, not dict"), ([], "kind 'list'")):
        with pytest.raises(ResultRecordError, match=re.escape(words)):
            RebalancingResult.from_record(bad)
    run = SimpleNamespace(name="04_rebalancing_report", metrics={"rebalancing": {**record, "version": 0}})
    [headline] = report_headlines([run])
    assert headline.title == "Unreadable result of 04_rebalancing_report" and "version 0" in headline.findings[0]
    assert rebalancing_headline("04", {"table": {"clean/sad/RSUM": 1.0}}) is None  # no recorded result


SUMMARY = pd.DataFrame([  # DCMQExperiment.summary's shape: mean and std over seeds (FAISS: one deterministic run)
    {"method": "dcmq", "bits": 16, "rsum": 109.1, "rsum_std": 0.7, "map": 62.2, "map_std": 0.4, "bytes_per_item": 2},
    {"method": "dcmq", "bits": 32, "rsum": 110.0, "rsum_std": 0.0, "map": 57.0, "map_std": 0.0, "bytes_per_item": 4},
    {"method": "faiss_opq", "bits": 16, "rsum": 102.8, "rsum_std": 0.0, "map": 58.9, "map_std": 0.0,
     "bytes_per_item": 2},
    {"method": "faiss_opq", "bits": 32, "rsum": 112.6, "rsum_std": 0.0, "map": 57.9, "map_std": 0.0,
     "bytes_per_item": 4}])
CODES = CodesResult.from_experiment(SUMMARY, versus_opq(SUMMARY), {"dcmq/rsum": True},
                                    pd.Series({("teacher", 16): 15.04, ("teacher", 32): 3.0})).to_record()


def test_imbalance_and_codes_headlines_by_hand():
    sweep = ImbalanceSweepResult(dataset="twemoji", rows=[["text", "word_replace", 0.75, 74.0, 60.0, 14 / 134]],
                                 clean_imbalance_index=-0.04)
    imb = imbalance_headline("01", {"imbalance_sweep": sweep.to_record()})
    row = re.findall(r"<td class=''>(.*?)</td>", imb.table_html)
    assert row == ["text", "word_replace", "0.75", "74.00", "60.00", f"{14 / 134:.3f}"]
    codes = codes_headline("06", {"codes": CODES})
    found = [re.findall(r"<td class=''>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", codes.table_html)[1:]]
    assert found == [["DCMQ (teacher-distilled)", "16", "2", "109.10 ± 0.70", "62.20 ± 0.40", "15.0"],
                     ["DCMQ (teacher-distilled)", "32", "4", "110.00", "57.00", "3.0"],
                     ["FAISS OPQ", "16", "2", "102.80", "58.90", "–"],
                     ["FAISS OPQ", "32", "4", "112.60", "57.90", "–"]]
    assert codes.findings[1:] == ["16 bits: DCMQ beats FAISS OPQ (RSUM +6.30, mAP +3.30).",
                                  "32 bits: DCMQ does not beat FAISS OPQ (RSUM -2.60, mAP -0.90)."]
    assert imbalance_headline("01", {"x": 1}) is None and codes_headline("06", {"codes_table": {"x": 1}}) is None
    assert CODES["sentences"] == codes.findings[1:]


def test_index_opens_with_the_headlines_in_order(tmp_path):
    def run(name, metrics):
        return SimpleNamespace(name=name, source=Path(f"/nowhere/{name}.ipynb"), executed=tmp_path / f"{name}.ipynb",
                               html=None, metrics_path=tmp_path / f"{name}.metrics.json", parameters={},
                               metrics=metrics, figures={}, seconds=3.0, peak_pss=2**30, peak_rss=3 * 2**30,
                               status="ok", error=None)

    sweep = ImbalanceSweepResult(dataset="twemoji", rows=[["image", "occlusion", 0.75, 60.0, 80.0, -0.2]],
                                 clean_imbalance_index=0.1)
    runs = [run("01_modal_imbalance", {"imbalance_sweep": sweep.to_record()}),
            run("04_rebalancing_report", {"rebalancing": study(SEEDS).to_record()}),
            run("06_efficient_retrieval", {"codes": CODES})]
    assert [h.notebook for h in report_headlines(runs)] == ["04_rebalancing_report", "01_modal_imbalance",
                                                           "06_efficient_retrieval"]
    page = write_index(tmp_path, runs, "fast", 9.0, (1.0, 1.0, 1.0), (2.0, 2.0, 2.0)).read_text()
    order = [page.index(s) for s in ("<h2>Headline results", "<h3>Rebalancing", "<h3>Modal imbalance",
                                     "<h3>Retrieval with compact codes: DCMQ against FAISS PQ / OPQ",
                                     "<h2>Where the time goes",
                                     "<section id='01_modal_imbalance'")]
    assert order == sorted(order)
    assert "3 notebook(s) in 9.0 s · peak memory 1.00 GB · load average 1.00 1.00 1.00 before" in page  # the PSS
    assert "<td>1.00 GB</td><td>3.00 GB</td></tr>" in page  # each notebook's PSS and summed RSS


def test_the_natural_imbalance_headline_shows_each_datasets_caption_groups_and_the_notebooks_words():
    rows = [("a", "category", "x", "image NDCG@10", 50.0, 9)]  # category rows are the figure's, not the headline's
    rows += [("a", "caption quality", "all captions", m, v, n) for m, v, n in
             (("image NDCG@10", 61.24, 9), ("text NDCG@10", 70.0, 12), ("kNN agreement", 33.3, 9))]
    rows += [("b", "caption quality", g, m, v, 4) for g, vals in (("weak text", (10.0, None, 5.0)),
                                                                 ("rich text", (40.0, 72.5, 20.0)))
             for m, v in zip(("image NDCG@10", "text NDCG@10", "kNN agreement"), vals)]
    table = pd.DataFrame(rows, columns=["dataset", "grouping", "group", "measure", "value", "n"])
    result = NaturalImbalanceResult.from_table(table, ["a: said once.", "b: said twice."])
    h = natural_imbalance_headline("01", {"natural_imbalance": result.to_record()})
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", h.table_html)
    assert cells == ["a", "all captions", "9", "61.2", "70.0", "33.3",
                     "b", "weak text", "4", "10.0", "–", "5.0", "b", "rich text", "4", "40.0", "72.5", "20.0"]
    assert h.findings[1:] == ["a: said once.", "b: said twice."]
    assert natural_imbalance_headline("01", {"x": 1}) is None
    with pytest.raises(ResultRecordError):
        natural_imbalance_headline("01", {"natural_imbalance": {**result.to_record(), "version": 99}})



def test_the_imbalance_sweep_result_reads_the_sweep_and_round_trips():
    table = pd.DataFrame({"degraded": ["image", "image", "text"], "kind": ["occlusion", "occlusion", "word_replace"],
                          "severity": [0.0, 0.75, 0.75], "model": "teacher", "image_ndcg10": [70.0, 50.0, 70.0],
                          "text_ndcg10": [80.0, 80.0, 60.0], "value": [-1 / 15, -3 / 13, 1 / 13], "weaker": "text"})
    result = ImbalanceSweepResult.from_sweep(table, "openclipart")
    back = ImbalanceSweepResult.from_record(json.loads(json.dumps(result.to_record())))
    assert back == result and back.clean_imbalance_index == pytest.approx(-1 / 15)
    assert back.table().values.tolist() == [["image", "occlusion", 0.0, 70.0, 80.0, -1 / 15],
                                            ["image", "occlusion", 0.75, 50.0, 80.0, -3 / 13],
                                            ["text", "word_replace", 0.75, 70.0, 60.0, 1 / 13]]
    with pytest.raises(ResultRecordError, match="'clean_imbalance_index' is str"):
        ImbalanceSweepResult.from_record({**result.to_record(), "clean_imbalance_index": "0.1"})


def test_the_results_of_notebooks_02_03_and_05_round_trip_and_name_a_wrong_field():
    curves = {"baseline": pd.DataFrame({"shift": [0.0, 1.0], "gap": [0.8, 0.05], "rsum": [90.0, 70.0]})}
    results = [RelationDriftResult(dataset="twemoji", structure_recipe="sad-kl",
                                   val_rsum={"baseline": 120.5, "sad-kl": 125.0}, lambda_final=0.48),
               GeometryResult(dataset="twemoji", structure_recipe="sad-kl", projection="umap",
                              mean_image_knn_moved=3.5, gap_shift=GeometryResult.gap_shift_record(curves)),
               ExplorerSweepResult.from_sweep(pd.DataFrame({"structure weight": [0.0, 2.0], "text severity": [0.25, 0],
                                                            "rsum": [50.0, 60.0], "student text ndcg@10": [70.0, 72.0],
                                                            "student image ndcg@10": [75.0, 76.0]}),
                                              "twemoji", "word_replace")]
    for result in results:
        assert type(result).from_record(json.loads(json.dumps(result.to_record()))) == result
    assert results[1].gap_shift == {"baseline": {"0": {"gap": 0.8, "rsum": 90.0}, "1": {"gap": 0.05, "rsum": 70.0}}}
    assert results[2].sweep["w0/s0.25/rsum"] == 50.0 and results[2].sweep["w2/s0/student image ndcg@10"] == 76.0
    with pytest.raises(ResultRecordError, match="'lambda_final' is NoneType"):
        RelationDriftResult.from_record({**results[0].to_record(), "lambda_final": None})
    with pytest.raises(ResultRecordError, match="not a recorded geometry result"):
        GeometryResult.from_record(results[0].to_record())
