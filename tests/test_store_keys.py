"""Store keys do not change when code moves: keys of fixed inputs, computed by the code before vlr_viz.store held
the run, stage-1, DCMQ, evaluation and table kinds, and before it held the arrays kind (then ``vlr_viz.cache``), so
that every stored entry keeps being read back."""
import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from synthetic_features import synthetic, tiny
from vlr_viz.data.twemoji import images_key, load_twemoji, twemoji_index
from vlr_viz.eval.relevance import rouge_relevance
from vlr_viz.keys import content_hash
from vlr_viz.store.arrays import array_cache, cached_array, entry_path
from vlr_viz.store.dcmq import dcmq_key
from vlr_viz.store.locations import default_cache_dir, default_store_dir
from vlr_viz.store.evaluations import evaluation_key
from vlr_viz.store.runs import RunStore, fingerprint, run_key
from vlr_viz.store.stage1 import Stage1Store
from vlr_viz.store.tables import analysis_path
from vlr_viz.train.dcmq import DCMQConfig


def test_keys_of_fixed_inputs_are_those_the_stored_entries_have(tmp_path):
    train, val = synthetic(0), synthetic(1, n_img=24, extra=4)
    assert content_hash("x", np.arange(6, dtype=np.float32).reshape(2, 3), [1, "a", None], {"k": 2.5}) == \
        "7658f2f55e5c55e70d86fff1"
    assert fingerprint(train) == "760198a2a6dccd5d2233c057"
    assert run_key(tiny(method="sad"), train, val, val, probe=[0, 1, 2], extra={"a": 1}) == "9d961badb27ea3d0e83bf508"
    stage1 = Stage1Store(RunStore(tmp_path))
    assert stage1.keys([tiny(method="sad", epochs_stage1=1, epochs_stage2=1)], train, val) == [
        "28db35828d71b2249120cc70"]
    assert dcmq_key([DCMQConfig(bits=16, seed=0), DCMQConfig(bits=16, seed=1)], train, val) == \
        "acd3c0a9ffe4fe1f4a07cb64"
    pairs = SimpleNamespace(txt_to_img=np.arange(3), labels=np.array([0, 1, 0]), family=None,
                            captions=["a b", "b c", "c d"])
    assert evaluation_key(np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32), pairs, ks=(1, 5)) == \
        "d24576c2ddccd5e0b5c37e8a"
    assert analysis_path("bootstrap", "1", np.arange(3), "x", store_dir=tmp_path).name == \
        "3a77674bf3c1e496dd0cee62.json"


def test_array_entries_keep_their_keys_file_names_and_sidecars(tmp_path):
    cache = array_cache(tmp_path)
    rouge_relevance(["a b", "b c", "c d"], ["a b", "b c", "c d"], [0, 1, 0], reduce="mean", cache=cache)
    rouge_relevance(["a b c"], ["b c", "a"], cache=cache)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "rougeL-relevance-38779ac6848a307946562718.npy", "rougeL-relevance-38779ac6848a307946562718.npy.json",
        "rougeL-relevance-9421d1caf6ccbf1e54264f83.npy", "rougeL-relevance-9421d1caf6ccbf1e54264f83.npy.json"]
    assert json.loads((tmp_path / "rougeL-relevance-9421d1caf6ccbf1e54264f83.npy.json").read_text())["meta"] == \
        {"reduce": "mean"}
    assert images_key(["1f600", "1f601"]) == "19d04e782b384d727d9498a6"
    assert images_key([r[1] for r in twemoji_index()]) == "84f97e933fa0e10c53cca156"  # the entry data/cache holds
    assert entry_path("/c", "twemoji-images", "k") == Path("/c/twemoji-images-k.npy")
    cached_array(tmp_path / "demo", "demo", "k1", lambda: np.arange(6, dtype=np.float32).reshape(2, 3), {"m": 1})
    assert (tmp_path / "demo" / "demo-k1.npy.json").read_text() == json.dumps(
        {"shape": [2, 3], "dtype": "float32",
         "sha256": "47d9cb788e60cfff38faf2237400d94063bde1f42a0ad39297e02642caca6b56", "meta": {"m": 1}}, indent=1)


def test_twemoji_images_are_read_back_from_the_entry_their_key_names(tmp_path):
    cache = array_cache(tmp_path)
    images = load_twemoji(cache=cache).images
    entry = tmp_path / "twemoji-images-84f97e933fa0e10c53cca156.npy"
    assert entry.exists() and sorted(p.name for p in tmp_path.iterdir()) == [entry.name, entry.name + ".json"]
    np.testing.assert_array_equal(load_twemoji(cache=cache).images, images)


def test_the_cache_folder_is_the_checkout_data_folder_unless_set(monkeypatch, tmp_path):
    monkeypatch.delenv("VLR_VIZ_CACHE", raising=False)
    monkeypatch.delenv("VLR_VIZ_RUN_STORE", raising=False)
    checkout = Path(__file__).resolve().parents[1]
    assert default_cache_dir() == checkout / "data" / "cache"
    assert default_store_dir() == checkout / "data" / "cache" / "runs"
    monkeypatch.setenv("VLR_VIZ_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path and array_cache().folder == tmp_path
    monkeypatch.setenv("VLR_VIZ_RUN_STORE", os.fspath(tmp_path / "r"))
    assert default_store_dir() == tmp_path / "r"
