"""The index page's headline tables, rebuilt from recorded numbers, checked against hand-worked cases."""
import math
import re
from pathlib import Path
from types import SimpleNamespace

from vlr_viz.report.headlines import (codes_headline, held_beyond_spread, imbalance_headline, rebalancing_headline,
                                      report_headlines)
from vlr_viz.report.index import write_index

# what notebook 04 records: "condition/method/column" -> mean (and std over seeds)
TABLE = {"clean/baseline/RSUM": 100.0, "clean/sad/RSUM": 104.0, "clean/baseline/t2t": 80.0, "clean/sad/t2t": 79.0,
         "text moderate/baseline/RSUM": 70.0, "text moderate/sad/RSUM": 71.0,
         "text moderate/baseline/t2t": 60.0, "text moderate/sad/t2t": 63.0}
STD = {"clean/baseline/RSUM": 1.0, "clean/sad/RSUM": 2.0, "clean/baseline/t2t": 0.2, "clean/sad/t2t": 0.3,
       "text moderate/baseline/RSUM": 1.5, "text moderate/sad/RSUM": 0.5,
       "text moderate/baseline/t2t": 1.0, "text moderate/sad/t2t": 1.0}


def _cells(table_html):
    """{(condition, method): [(css class, text), ...]} of a headline table."""
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table_html.split("<tbody>")[1]):
        cells = re.findall(r"<td class='([^']*)'>(.*?)</td>", row)
        out[(cells[0][1], re.sub("<[^>]+>", "", cells[1][1]))] = cells[2:]
    return out


def test_held_beyond_spread_is_the_sum_of_the_two_stds():
    assert held_beyond_spread(104.0, 2.0, 100.0, 1.0) is True      # |4| > 3
    assert held_beyond_spread(102.0, 2.0, 100.0, 1.0) is False     # |2| < 3
    assert held_beyond_spread(97.0, 1.0, 100.0, 1.0) is True       # a loss beyond the spread
    assert held_beyond_spread(104.0, math.nan, 100.0, 1.0) is None  # one seed: nothing to judge


def test_rebalancing_headline_by_hand():
    h = rebalancing_headline("04_rebalancing_report", {"table": TABLE, "table_std": STD})
    cells = _cells(h.table_html)
    # clean/sad: RSUM +4 > 2 + 1 held gain; t2t -1 > 0.3 + 0.2 held loss
    assert cells[("clean", "sad")] == [("gain", "104.00 ± 2.00 <span class='delta'>(+4.00)</span>"),
                                       ("loss", "79.00 ± 0.30 <span class='delta'>(-1.00)</span>")]
    # text moderate/sad: RSUM +1 < 0.5 + 1.5 within; t2t +3 > 1 + 1 held gain
    assert [c for c, _ in cells[("text moderate", "sad")]] == ["within", "gain"]
    assert cells[("clean", "baseline")] == [("", "100.00 ± 1.00"), ("", "80.00 ± 0.20")]
    assert h.findings == ["sad: beyond the seed spread in 3 of 4 cells (2 above the baseline, 1 below); "
                          "within it in the rest."]
    one_seed = rebalancing_headline("04", {"table": TABLE, "table_std": {k: math.nan for k in STD}})
    assert one_seed.findings == ["One seed: no standard deviation, so no difference to the baseline can be told "
                                 "from seed noise (differences shown in grey)."]
    assert {c for c, _ in _cells(one_seed.table_html)[("clean", "sad")]} == {"unjudged"}
    assert rebalancing_headline("04", {"table": {"a/b": 1.0}}) is None  # not the recorded shape
    assert rebalancing_headline("04", {"table": {"clean/sad/RSUM": 1.0}}) is None  # no baseline to compare to


def test_imbalance_and_codes_headlines_by_hand():
    imb = imbalance_headline("01", {"text_word_replace_0.75": {"image_ndcg10": 74.0, "text_ndcg10": 60.0,
                                                               "imbalance_index": 14 / 134},
                                    "clean_imbalance_index": -0.04})
    row = re.findall(r"<td class=''>(.*?)</td>", imb.table_html)
    assert row == ["text", "word_replace", "0.75", "74.00", "60.00", f"{14 / 134:.3f}"]
    codes = codes_headline("06", {"codes_table": {
        "faiss_opq_16/rsum": 102.8, "faiss_opq_16/map": 58.9, "faiss_opq_16/bytes_per_item": 2,
        "dcmq_16/rsum": 109.1, "dcmq_16/rsum_std": 0.7, "dcmq_16/map": 62.2, "dcmq_16/map_std": 0.4,
        "dcmq_16/bytes_per_item": 2, "dcmq_32/rsum": 110.0, "dcmq_32/map": 57.0, "faiss_opq_32/rsum": 112.6,
        "faiss_opq_32/map": 57.9}, "dead_codewords_percent": {"teacher_16": 15.04},
        "versus_opq": {"16/rsum_gain": 6.3, "16/map_gain": 3.3, "16/beats_opq": 1.0, "32/rsum_gain": -2.6,
                       "32/map_gain": -0.9, "32/beats_opq": 0.0}})
    rows = [re.findall(r"<td class=''>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", codes.table_html)[1:]]
    assert rows == [["DCMQ (teacher-distilled)", "16", "2", "109.10 ± 0.70", "62.20 ± 0.40", "15.0"],
                    ["DCMQ (teacher-distilled)", "32", "–", "110.00", "57.00", "–"],
                    ["FAISS OPQ", "16", "2", "102.80", "58.90", "–"], ["FAISS OPQ", "32", "–", "112.60", "57.90", "–"]]
    assert codes.findings[1:] == ["16 bits: DCMQ beats FAISS OPQ (RSUM +6.30, mAP +3.30).",
                                  "32 bits: DCMQ does not beat FAISS OPQ (RSUM -2.60, mAP -0.90)."]
    assert imbalance_headline("01", {"x": 1}) is None and codes_headline("06", {"codes_table": {"x": 1}}) is None


def test_index_opens_with_the_headlines_in_order(tmp_path):
    def run(name, metrics):
        return SimpleNamespace(name=name, source=Path(f"/nowhere/{name}.ipynb"), executed=tmp_path / f"{name}.ipynb",
                               html=None, metrics_path=tmp_path / f"{name}.metrics.json", parameters={},
                               metrics=metrics, figures={}, seconds=3.0, peak_pss=2**30, peak_rss=3 * 2**30,
                               status="ok", error=None)

    runs = [run("01_modal_imbalance", {"image_occlusion_0.75": {"image_ndcg10": 60.0, "text_ndcg10": 80.0,
                                                                  "imbalance_index": -0.2}}),
            run("04_rebalancing_report", {"table": TABLE, "table_std": STD}),
            run("06_efficient_retrieval", {"codes_table": {"dcmq_16/rsum": 109.1, "dcmq_16/map": 61.0}})]
    assert [h.notebook for h in report_headlines(runs)] == ["04_rebalancing_report", "01_modal_imbalance",
                                                           "06_efficient_retrieval"]
    page = write_index(tmp_path, runs, "fast", 9.0, (1.0, 1.0, 1.0), (2.0, 2.0, 2.0)).read_text()
    order = [page.index(s) for s in ("<h2>Headline results", "<h3>Rebalancing", "<h3>Modal imbalance",
                                     "<h3>Retrieval with compact codes: DCMQ against FAISS PQ / OPQ", "<h2>Where the time goes",
                                     "<section id='01_modal_imbalance'")]
    assert order == sorted(order)
    assert "3 notebook(s) in 9.0 s · peak memory 1.00 GB · load average 1.00 1.00 1.00 before" in page  # the PSS
    assert "<td>1.00 GB</td><td>3.00 GB</td></tr>" in page  # each notebook's PSS and summed RSS
