"""Store keys do not change when code moves: keys of fixed inputs, computed by the code before vlr_viz.store held
the run, stage-1, DCMQ, evaluation and table kinds, so that every stored entry keeps being read back."""
from types import SimpleNamespace

import numpy as np

from synthetic_features import synthetic, tiny
from vlr_viz.cache import content_hash
from vlr_viz.store.dcmq import dcmq_key
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
