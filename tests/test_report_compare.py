"""``vlr-viz compare``: the rebalancing results of two reports in one table, each dataset's paired Δ and whether
the finding holds on both, read from the metrics files the reports wrote."""
import json

import pandas as pd
import pytest

from vlr_viz.cli import main
from vlr_viz.report.compare import across_datasets
from vlr_viz.results import RebalancingResult
from vlr_viz.stats import paired_table


def result(dataset: str, sad_gain: list[float], kl_gain: list[float]) -> RebalancingResult:
    """Three paired seeds: RSUM of the baseline and two recipes whose per-seed gains are given."""
    base = [100.0, 101.0, 102.0]
    rows = pd.DataFrame([{"condition": "clean", "method": m, "column": "RSUM", "seed": s, "value": b + g}
                         for m, gains in (("baseline", [0, 0, 0]), ("sad", sad_gain), ("sad-kl", kl_gain))
                         for s, (b, g) in enumerate(zip(base, gains))])
    return RebalancingResult.from_study(rows, paired_table(rows, by=["condition", "column"]), dataset)


def report(folder, res: RebalancingResult):
    folder.mkdir()
    (folder / "04_rebalancing_report.metrics.json").write_text(json.dumps(
        {"metrics": {"rebalancing": res.to_record(), "empty_queries": "skip"}, "figures": {}}))
    return folder


TWEMOJI = result("twemoji", sad_gain=[4.0, 4.1, 4.2], kl_gain=[3.0, 3.1, 2.9])        # both gain clearly
CLIPART = result("openclipart", sad_gain=[4.0, 4.2, 4.1], kl_gain=[-1.0, 2.0, 0.5])    # sad-kl unclear here


def test_a_finding_holds_only_where_every_dataset_shows_it():
    table = across_datasets({"twemoji": TWEMOJI, "openclipart": CLIPART})
    rows = {r.method: r for r in table.itertuples(index=False)}
    assert set(rows) == {"sad", "sad-kl"} and list(table.columns)[-1] == "holds"
    assert rows["sad"].holds == "gain on all" and rows["sad-kl"].holds == "mixed"
    assert rows["sad"].twemoji.startswith("+4.10 [") and rows["sad"].twemoji.endswith(" *")
    assert rows["sad-kl"].openclipart.startswith("+0.50 [") and not rows["sad-kl"].openclipart.endswith("*")


def test_compare_reads_two_report_folders(tmp_path, capsys):
    a, b = report(tmp_path / "twemoji", TWEMOJI), report(tmp_path / "clipart", CLIPART)
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "table.md")]) == 0
    out = capsys.readouterr().out
    assert "gain on all" in out and "mixed" in out and "openclipart" in out
    markdown = (tmp_path / "table.md").read_text().splitlines()
    assert markdown[0] == "| condition | method | measure | twemoji | openclipart | holds |"
    assert any(line.startswith("| clean | sad | RSUM | +4.10 [") for line in markdown)


def test_compare_names_what_is_wrong(tmp_path, capsys):
    a = report(tmp_path / "twemoji", TWEMOJI)
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(a), str(tmp_path / "empty")]) == 2
    assert "04_rebalancing_report.metrics.json is missing" in capsys.readouterr().err
    assert main(["compare", str(a)]) == 2
    assert "at least two" in capsys.readouterr().err
    same = report(tmp_path / "again", TWEMOJI)
    assert main(["compare", str(a), str(same)]) == 0  # two reports of one dataset: told apart by their folders
    assert "twemoji (again)" in capsys.readouterr().out
    with pytest.raises(ValueError):
        across_datasets({"only": TWEMOJI})
