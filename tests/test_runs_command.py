"""``vlr-viz runs ls`` / ``runs rm`` against a store laid out by hand: deletes stay inside the store, broken and
unfinished entries are shown and removed, summaries of the wrong shape do not break the listing."""
import json
import os
from pathlib import Path

import pytest

from vlr_viz.cli import main
from vlr_viz.store.runs import RunStore


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` with its bytes (the oracle for 'nothing was touched')."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def entry(store: RunStore, key: str, summary) -> None:
    store.put_files(key, {"summary.json": json.dumps(summary).encode(), "best.safetensors": b"weights"})


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A store with two runs and a stage-1 entry, and folders beside and above it that must survive."""
    root = tmp_path / "cache" / "runs"
    store = RunStore(root)
    entry(store, "a" * 24, {"recipe": "sad", "seed": 0, "best_epoch": 3, "best_metrics": {"rsum": 301.25}})
    entry(store, "b" * 24, {"recipe": "baseline", "seed": 1, "best_epoch": 7, "best_metrics": {"rsum": 290.0}})
    (root / "stage1" / "c").mkdir(parents=True)
    (root / "stage1" / "c" / "weights").write_bytes(b"stage 1")
    outside = tmp_path / "x"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    (tmp_path / "cache" / "features.npy").write_bytes(b"features")
    monkeypatch.setenv("VLR_VIZ_RUN_STORE", str(root))
    monkeypatch.chdir(root)
    return store, tmp_path


@pytest.mark.parametrize("name", ["../../x", "{outside}", "", ".", "..", "stage1", "./" + "a" * 24,
                                  "a" * 24 + "/..", "0" * 24])
def test_runs_rm_refuses_what_is_not_a_stored_key(world, name, capsys):
    store, tmp_path = world
    name = name.format(outside=tmp_path / "x")
    before = tree(tmp_path)
    assert main(["runs", "rm", "a" * 24, name]) == 2  # a good key first: nothing is removed when one is bad
    err = capsys.readouterr().err
    assert f"{name!r} is not the key of a stored run" in err and len(err.strip().splitlines()) == 1
    assert tree(tmp_path) == before


def test_runs_rm_refuses_a_link_out_of_the_store(world, capsys):
    store, tmp_path = world
    os.symlink(tmp_path / "x", store.root / ("d" * 24))
    before = tree(tmp_path)
    assert main(["runs", "rm", "d" * 24]) == 2
    assert tree(tmp_path) == before and (tmp_path / "x" / "keep.txt").read_text() == "precious"


def test_runs_rm_removes_one_run_and_nothing_else(world, capsys):
    store, tmp_path = world
    before = tree(tmp_path)
    assert main(["runs", "rm", "a" * 24]) == 0
    assert "removed 1 stored run(s)" in capsys.readouterr().out
    after = tree(tmp_path)
    assert {k: v for k, v in before.items() if not k.startswith(f"cache/runs/{'a' * 24}")} == after
    assert [r["key"] for r in store.entries()] == ["b" * 24]


def test_runs_rm_all_clears_unfinished_entries_and_only_the_store(world, capsys):
    store, tmp_path = world
    (store.root / ("e" * 24 + ".tmp")).mkdir()            # a write cut off before its rename
    (store.root / ("e" * 24 + ".tmp") / "summary.json").write_text("{}")
    (store.root / ("f" * 24)).mkdir()                      # an entry whose manifest is gone
    (store.root / ("f" * 24) / "best.safetensors").write_bytes(b"half")
    (store.root / ("b" * 24 + ".lock")).write_text("")
    assert main(["runs", "ls"]) == 0
    listing = capsys.readouterr().out
    assert "2 stored runs" in listing and "2 unfinished or damaged entries" in listing
    assert "e" * 24 + ".tmp" in listing and "f" * 24 in listing
    assert main(["runs", "rm", "f" * 24]) == 0                 # a broken entry can be removed by its name
    assert main(["runs", "rm", "--all"]) == 0
    assert "removed 3 stored run(s)" in capsys.readouterr().out.splitlines()[-1]
    assert list(store.root.iterdir()) == []
    assert tree(tmp_path) == {"x/keep.txt": b"precious", "cache/features.npy": b"features"}


@pytest.mark.parametrize("summary", [[], None, "text", {"seed": [1], "best_metrics": [], "best_epoch": {"a": 1}},
                                     {"best_metrics": {"rsum": "high"}, "recipe": None, "condition": 3}])
def test_runs_ls_reads_summaries_of_any_shape(world, summary, capsys):
    store, _ = world
    entry(store, "9" * 24, summary)
    assert main(["runs", "ls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "3 stored runs" in lines[4] and any(line.startswith("9" * 24) for line in lines)


def test_runs_ls_aligns_its_columns(world, capsys):
    store, _ = world
    entry(store, "c" * 24, {"recipe": "sad-kl-reliability", "seed": 12, "best_epoch": 10,
                            "best_metrics": {"rsum": 1.5}, "condition": "text moderate"})
    assert main(["runs", "ls"]) == 0
    lines = capsys.readouterr().out.splitlines()[:4]
    head = lines[0]
    for column in ("seed", "epoch", "val RSUM", "MiB"):   # right-aligned: every cell ends where the header does
        end = head.index(column) + len(column)
        assert all(line[end - 1] != " " and (len(line) == end or line[end] == " ") for line in lines), column
    assert lines[1].split()[1] == "sad" and lines[3].split()[-2:] == ["text", "moderate"]
