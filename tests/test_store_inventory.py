"""``vlr-viz store ls | verify | rm`` over a cache laid out by the real writers of each kind, with damaged and
unfinished entries among them: each is listed under its kind, checked by its own rule, and removed alone."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from vlr_viz.cli import main
from vlr_viz.store import KINDS, entries
from vlr_viz.store.arrays import save_array
from vlr_viz.store.runs import RunStore
from vlr_viz.store.tables import stored_table


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """One sound entry of every kind, a damaged one of four kinds, two unfinished writes, and a file beside the
    cache that must survive everything."""
    import pandas as pd

    root = tmp_path / "cache"
    runs = root / "runs"
    monkeypatch.setenv("VLR_VIZ_CACHE", str(root))
    monkeypatch.delenv("VLR_VIZ_RUN_STORE", raising=False)
    save_array(root / "img-efficientnet-lite0-aaaa.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
    save_array(root / "txt-minilm-l6-bbbb.npy", np.ones((2, 2), np.float32))
    with open(root / "txt-minilm-l6-bbbb.npy", "r+b") as f:  # a flipped byte behind an intact sidecar
        f.seek(-1, 2)
        f.write(b"\x01")
    (root / "figures").mkdir()
    (root / "figures" / "good.png").write_bytes(png_bytes())
    (root / "figures" / "cut.png").write_bytes(png_bytes()[:20])
    store = RunStore(runs)
    store.put_files("a" * 24, {"summary.json": b"{}", "best.safetensors": b"weights"})
    store.put_files("b" * 24, {"summary.json": b"{}", "best.safetensors": b"weights"})
    (runs / ("b" * 24) / "best.safetensors").write_bytes(b"changed")
    (runs / ("c" * 24 + ".tmp")).mkdir()
    RunStore(runs / "stage1").put_files("d" * 24, {"stage1.json": b"{}"})
    RunStore(runs / "dcmq").put_files("e" * 24, {"result.json": b"{}"})
    save_array(runs / "faiss" / "opq-ffff.npy", np.zeros(8, np.uint8))
    stored_table(runs / "analyses" / "query_bootstrap" / "k1.json", lambda: pd.DataFrame({"x": [1.5]}))
    stored_table(runs / "evaluations" / "k2.json", lambda: pd.DataFrame({"y": ["a"]}))
    (runs / "evaluations" / "k3.json").write_text(json.dumps({"key": "other", "rows": []}))
    (runs / "evaluations" / ".k4.json.x1y2.tmp").write_text("{")
    (tmp_path / "keep.txt").write_text("precious")
    return tmp_path


def test_every_kind_is_listed_and_checked_by_its_own_rule(cache):
    found = {(e.kind, e.key): e.status for e in entries(verify=True)}
    assert {kind for kind, _ in found} == set(KINDS)
    assert found[("arrays", "img-efficientnet-lite0-aaaa.npy")] == "ok"
    assert found[("arrays", "txt-minilm-l6-bbbb.npy")].startswith("damaged: ") and "checksum" in \
        found[("arrays", "txt-minilm-l6-bbbb.npy")]
    assert found[("figures", "good.png")] == "ok" and found[("figures", "cut.png")] == "damaged: not a whole PNG"
    assert found[("runs", "a" * 24)] == "ok"
    assert found[("runs", "b" * 24)] == "damaged: best.safetensors differs from manifest.json"
    assert found[("runs", "c" * 24 + ".tmp")] == "unfinished"
    assert found[("stage1", "d" * 24)] == found[("dcmq", "e" * 24)] == found[("faiss", "opq-ffff.npy")] == "ok"
    assert found[("analyses", "query_bootstrap/k1.json")] == found[("evaluations", "k2.json")] == "ok"
    assert found[("evaluations", "k3.json")].startswith("damaged")
    assert found[("evaluations", ".k4.json.x1y2.tmp")] == "unfinished"
    assert not any(kind == "runs" and key in ("stage1", "dcmq", "faiss", "analyses", "evaluations")
                   for kind, key in found)  # the derived folders are kinds of their own, not runs


def test_store_ls_and_verify_through_the_command_line(cache, capsys):
    assert main(["store", "ls"]) == 0
    listing = capsys.readouterr().out
    assert "runs 3 entries" in listing and "figures 2 entries" in listing and "unchecked" in listing
    assert main(["store", "verify"]) == 1  # damaged entries: a non-zero exit for scripts
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()[1:-1]]
    assert sorted((kind, status) for kind, _, _, status, *_ in lines) == [
        ("arrays", "damaged:"), ("evaluations", "damaged:"), ("evaluations", "unfinished"), ("figures", "damaged:"),
        ("runs", "damaged:"), ("runs", "unfinished")]
    assert main(["store", "verify", "stage1"]) == 0


def test_store_rm_removes_one_kind_and_nothing_else(cache, capsys):
    before = {p.relative_to(cache) for p in cache.rglob("*") if p.is_file()}
    assert main(["store", "rm", "arrays", "txt-minilm-l6-bbbb.npy"]) == 0
    after = {p.relative_to(cache) for p in cache.rglob("*") if p.is_file()}
    assert {str(p) for p in before - after} == {"cache/txt-minilm-l6-bbbb.npy", "cache/txt-minilm-l6-bbbb.npy.json"}
    assert main(["store", "rm", "figures", "--all"]) == 0
    assert "removed 2 stored figures entries" in capsys.readouterr().out
    assert not list((cache / "cache" / "figures").iterdir()) and (cache / "cache" / "runs" / ("a" * 24)).is_dir()
    for bad in ("../keep.txt", "", ".", "..", str(cache / "keep.txt"), "a" * 24):
        assert main(["store", "rm", "figures", bad]) == 2
    with pytest.raises(SystemExit) as refused:  # argparse refuses an unknown kind itself
        main(["store", "rm", "nosuch", "--all"])
    assert refused.value.code == 2
    assert (cache / "keep.txt").read_text() == "precious"
    err = capsys.readouterr().err
    assert "is not the key of a stored figures entry" in err and "invalid choice: 'nosuch'" in err
