"""Where the report's time goes: the ETA from the previous run, the kept timings, the console summary."""
import io
import json
import re
from types import SimpleNamespace

import pytest

from vlr_viz.report.plan import NotebookPlan
from vlr_viz.report.timing import (TIMINGS_FILE, NotebookProgress, expected_seconds, format_seconds, parameters_key,
                                   read_timings, remaining_seconds, timing_table, write_timings)


def _run(name, seconds, peak_pss=2**30, status="ok", parameters=None, peak_rss=None, stored=(None, None)):
    return SimpleNamespace(name=name, seconds=seconds, peak_pss=peak_pss,
                           peak_rss=2 * peak_pss if peak_rss is None else peak_rss, status=status,
                           parameters=parameters or {"seed": 0}, stored_before=stored[0], stored_after=stored[1])


def test_remaining_seconds_by_hand():
    expected = {"a": 100.0, "b": 50.0, "c": 10.0}
    assert remaining_seconds(["a", "b", "c"], 0, 0.0, expected) == 160.0
    assert remaining_seconds(["a", "b", "c"], 0, 30.0, expected) == 130.0    # 70 left of a, then b and c
    assert remaining_seconds(["a", "b", "c"], 0, 250.0, expected) == 60.0    # a overran: at least 0 left of it
    assert remaining_seconds(["a", "b", "c"], 2, 4.0, expected) == 6.0
    assert remaining_seconds(["a", "x", "c"], 0, 0.0, expected) is None      # x never ran before
    assert remaining_seconds(["a", "x", "c"], 2, 0.0, expected) == 10.0      # ... but it is done now


def test_timings_are_kept_per_parameters_and_feed_the_next_eta(tmp_path):
    first = [_run("01_a", 12.345), _run("02_b", 3.0, status="failed")]
    write_timings(tmp_path, first)
    kept = read_timings(tmp_path)
    key = parameters_key("01_a", {"seed": 0})
    assert kept == {key: {"seconds": 12.35, "peak_pss": 2**30, "peak_rss": 2**31, "finished": kept[key]["finished"]}}
    write_timings(tmp_path, [_run("01_a", 20.0, parameters={"seed": 1})])  # other parameters: a second entry
    assert len(read_timings(tmp_path)) == 2
    plans = [NotebookPlan("01_a", None, {}, {"seed": 0}), NotebookPlan("02_b", None, {}, {"seed": 0}),
             NotebookPlan("01_a", None, {}, {"seed": 2})]
    assert expected_seconds(plans[:2], read_timings(tmp_path)) == ({"01_a": 12.35}, "previous run")  # failed: none
    assert expected_seconds(plans[2:], read_timings(tmp_path))[0] == {}
    (tmp_path / TIMINGS_FILE).write_text("{not json")
    assert read_timings(tmp_path) == {}  # an unreadable file only costs the ETA
    write_timings(tmp_path, first)
    assert json.loads((tmp_path / TIMINGS_FILE).read_text())["runs"]


def test_a_warm_report_expects_the_warm_time_and_a_cold_time_is_named_an_upper_bound(tmp_path):
    """A cold run (the store gained entries) followed by reports that find everything stored: the first of them
    gets the cold time as an upper bound, later ones the warm time, and a cleared store the cold time again."""
    plans = [NotebookPlan("04_r", None, {}, {"seed": 0})]
    write_timings(tmp_path, [_run("04_r", 1500.0, stored=(10, 90))])  # cold: trained and stored 80 entries
    assert expected_seconds(plans, read_timings(tmp_path), 90) == (
        {"04_r": 1500.0}, "previous run, which computed what is stored now: at most this")
    assert expected_seconds(plans, read_timings(tmp_path), 5) == ({"04_r": 1500.0}, "previous run")  # cleared
    write_timings(tmp_path, [_run("04_r", 60.0, stored=(90, 90))])  # warm: read everything back
    assert expected_seconds(plans, read_timings(tmp_path), 90) == ({"04_r": 60.0}, "previous run")
    assert expected_seconds(plans, read_timings(tmp_path), 3)[0] == {"04_r": 60.0}  # last run's time, store gone
    write_timings(tmp_path, [_run("04_r", 1400.0, stored=(3, 90))])  # cold again after the clear
    entry = next(iter(read_timings(tmp_path).values()))
    assert (entry["cold"], entry["warm"], entry["computed"]) == (1400.0, 60.0, True)
    assert expected_seconds(plans, read_timings(tmp_path), 95) == ({"04_r": 60.0}, "previous run")
    progress = NotebookProgress(["04_r"], {"04_r": 1500.0}, tick=10, file=io.StringIO(),
                                source="previous run, which computed what is stored now: at most this")
    assert progress.postfix() == "04_r · ETA 25:00 (previous run, which computed what is stored now: at most this)"
    progress.close()


def test_progress_bar_shows_the_eta_from_the_previous_run():
    out = io.StringIO()
    progress = NotebookProgress(["01_a", "02_b"], {"01_a": 100.0, "02_b": 50.0}, tick=0.02, file=out)
    progress.start(0)
    assert progress.postfix() == "01_a · ETA 2:30 (previous run)"
    progress.done("01_a: ok in 1.0 s")
    assert progress.postfix() == "02_b · ETA 50.0 s (previous run)"
    progress.close()
    text = out.getvalue()
    assert "01_a: ok in 1.0 s" in text and "ETA 2:30 (previous run)" in text
    unknown = NotebookProgress(["01_a", "03_c"], {"01_a": 100.0}, tick=10, file=io.StringIO())
    assert unknown.postfix() == "01_a · no ETA: no previous run with these parameters"
    unknown.close()


@pytest.mark.parametrize("seconds, text", [(0.04, "0.0 s"), (59.94, "59.9 s"), (61, "1:01"), (3725, "1:02:05")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_timing_table_lists_every_notebook_the_total_and_the_load():
    runs = [_run("01_a", 12.0, 3 * 2**29, peak_rss=2**31), _run("02_bb", 70.0, 2**28, peak_rss=5 * 2**30)]
    table = timing_table(runs, (1.0, 2.0, 3.0), (4.0, 5.0, 6.0), 83.0)
    lines = table.splitlines()
    assert re.match(r"notebook +status +wall time +peak memory +summed RSS$", lines[0])
    assert re.match(r"01_a +ok +12\.0 s +1\.50 GB +2\.00 GB$", lines[1])
    assert re.match(r"02_bb +ok +1:10 +256 MB +5\.00 GB$", lines[2])
    assert re.match(r"total +1:23 +1\.50 GB +5\.00 GB \(largest\)$", lines[3])  # each column's own largest
    assert "PSS" in lines[4] and "load average 1.00 2.00 3.00 before, 4.00 5.00 6.00 after" in lines[4]
