"""The DCMQ experiment driver and its figures: every row is the metric of what it names (tiny SYNTHETIC clusters)."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from numpy_oracles import unit
from vlr_viz.eval import recall_at_k
from vlr_viz.eval.codes import code_retrieval_metrics, cross_modal_map
from vlr_viz.experiments.dcmq import (common_space_splits, is_monotone, run_dcmq_experiment, summarize,
                                      versus_opq)
from vlr_viz.models.faiss_baselines import train_faiss_codes
from vlr_viz.train.dcmq import DCMQConfig
from vlr_viz.train.threads import torch_threads
from vlr_viz.viz.codes import codes_vs_bits_figure, codeword_usage, codeword_usage_figure, dead_codewords


class _Pairs:
    def __init__(self, txt_to_img, labels):
        self.txt_to_img, self.labels = txt_to_img, labels


def _synthetic(seed, n=300, dim=16, n_cat=4):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(n_cat, dim)) * 1.5
    labels = rng.integers(0, n_cat, n)
    z = centres[labels] + rng.normal(size=(n, dim))
    return (unit(z + 0.3 * rng.normal(size=z.shape)), unit(z + 0.3 * rng.normal(size=z.shape))), \
        _Pairs(np.arange(n), labels)


@pytest.fixture(scope="module")
def experiment():
    parts = {s: _synthetic(i) for i, s in enumerate(("train", "val", "test"))}
    data = common_space_splits({s: p[0] for s, p in parts.items()}, {s: p[1] for s, p in parts.items()})
    with torch_threads(1):
        return run_dcmq_experiment(data, [16], seeds=[0, 1], config=DCMQConfig(epochs=2, kmeans_iters=3))


def test_every_row_is_the_metric_of_what_it_names(experiment):
    t = experiment.table
    assert list(t.method) == ["dcmq", "dcmq", "labels", "labels", "faiss_pq", "faiss_opq", "float"]
    assert list(t.bytes_per_item) == [2] * 6 + [64]
    test = experiment.data["test"]
    for _, row in t[t.method.isin(["dcmq", "labels"])].iterrows():
        sup = "teacher" if row.method == "dcmq" else "labels"
        res = experiment.results[(sup, 16, row.seed)]
        m = res.evaluate(test)
        assert row.rsum == pytest.approx(m["rsum"]) and row["map"] == pytest.approx(m["map_mean"])
        assert row.best_epoch == res.best_epoch
    img, txt = test.image.numpy(), test.text.numpy()
    train = experiment.data["train"]
    opq = train_faiss_codes(np.concatenate([train.image.numpy(), train.text.numpy()]), 16, "faiss_opq", threads=1)
    m = code_retrieval_metrics(opq.transform(img), opq.transform(txt), opq.encode(img), opq.encode(txt),
                               opq.codebooks, test.txt_to_img, test.labels)
    row = t[t.method == "faiss_opq"].iloc[0]
    assert row.rsum == pytest.approx(m["rsum"]) and row["map"] == pytest.approx(m["map_mean"])
    ref = t[t.method == "float"].iloc[0]
    assert ref.rsum == pytest.approx(recall_at_k(img, txt, np.arange(300), return_ranks=False)["rsum"])
    assert ref["map"] == pytest.approx(cross_modal_map(img, txt, test.labels, test.labels, ks=(50,))["map_mean"])
    # far above chance on clean clusters: codes carry the categories
    assert (t[t.method != "float"]["map"] > 45).all()


def test_summary_verdict_and_monotonicity_follow_their_definitions():
    table = pd.DataFrame({
        "method": ["dcmq"] * 4 + ["faiss_opq"] * 2 + ["float"],
        "bits": [32, 32, 64, 64, 32, 64, 8192], "seed": [0, 1, 0, 1, -1, -1, -1],
        "bytes_per_item": [4, 4, 8, 8, 4, 8, 1024],
        "rsum": [100.0, 110.0, 120.0, 124.0, 106.0, 125.0, 140.0],
        "map": [60.0, 62.0, 61.0, 61.0, 58.0, 57.0, 56.0]})
    s = summarize(table)
    assert list(s.method) == ["dcmq", "dcmq", "faiss_opq", "faiss_opq", "float"]
    row = s.iloc[0]
    assert (row.rsum, row.rsum_std, row["map"], row.runs) == (105.0, pytest.approx(np.std([100, 110], ddof=1)), 61.0, 2)
    assert s.iloc[2].rsum_std == 0.0
    v = versus_opq(s)
    assert list(v.matches_rsum) == [False, False] and list(v.beats_map) == [True, True]
    assert list(v.rsum_gain) == [-1.0, -3.0] and not v.beats_opq.any()
    assert is_monotone(s, "dcmq", "rsum") and is_monotone(s, "dcmq", "map") is True
    assert not is_monotone(s, "faiss_opq", "map")


def test_code_figures_draw_every_method_and_length(experiment):
    fig = codes_vs_bits_figure(experiment.summary)
    assert isinstance(fig, go.Figure)
    names = {tr.name for tr in fig.data}
    assert names == {"DCMQ (teacher-distilled)", "label-supervised codes", "FAISS PQ", "FAISS OPQ"}
    assert len(fig.data) == 8  # RSUM and mAP panels
    usage = codeword_usage(experiment.results)
    assert set(usage.supervision) == {"teacher", "labels"}
    for (sup, bits, seed), res in experiment.results.items():
        part = usage[(usage.supervision == sup) & (usage.seed == seed)]
        assert part.share.sum() == pytest.approx(res.codeword_usage.shape[0] * res.codeword_usage.shape[1])
    dead = dead_codewords(usage)
    assert ((dead >= 0) & (dead <= 100)).all()
    assert isinstance(codeword_usage_figure(usage), go.Figure)
    with pytest.raises(ValueError, match="lacks"):
        codes_vs_bits_figure(experiment.table.drop(columns="rsum"))


def test_a_warm_experiment_trains_nothing_and_gives_the_same_table(experiment, monkeypatch):
    """The DCMQ passes and FAISS quantisers of the experiment above are in this session's run store: the same call
    again trains neither (both are made to fail) and returns the same table, results and baselines."""
    from vlr_viz.models import faiss_baselines
    from vlr_viz.store import dcmq as dcmq_store

    monkeypatch.setattr(dcmq_store, "fit_dcmq_runs", lambda *a, **k: pytest.fail("a stored DCMQ pass was retrained"))
    monkeypatch.setattr(faiss_baselines, "train_faiss_codes", lambda *a, **k: pytest.fail("FAISS retrained"))
    with torch_threads(1):
        warm = run_dcmq_experiment(experiment.data, [16], seeds=[0, 1], config=DCMQConfig(epochs=2, kmeans_iters=3))
    pd.testing.assert_frame_equal(warm.table, experiment.table, check_exact=True)
    test = experiment.data["test"]
    for key, cold in experiment.results.items():
        again = warm.results[key]
        assert again.best_epoch == cold.best_epoch and again.val_metrics == cold.val_metrics
        pd.testing.assert_frame_equal(again.history, cold.history, check_exact=True)
        np.testing.assert_array_equal(again.codeword_usage, cold.codeword_usage)
        for a, b in zip(again.encode(test), cold.encode(test)):
            np.testing.assert_array_equal(a, b)
    for key, cold in experiment.baselines.items():
        again = warm.baselines[key]
        assert again.seconds == cold.seconds > 0
        np.testing.assert_array_equal(again.codebooks, cold.codebooks)
        np.testing.assert_array_equal(again.encode(test.image.numpy()), cold.encode(test.image.numpy()))


def test_a_damaged_stored_pass_is_reported_and_trained_again(tmp_path):
    from vlr_viz.store.dcmq import fit_dcmq_runs_stored
    from vlr_viz.store.entry import StoredRunWarning
    from vlr_viz.store.runs import RunStore

    parts = {s: _synthetic(i, n=260) for i, s in enumerate(("train", "val"))}
    parts["test"] = parts["val"]
    data = common_space_splits({s: p[0] for s, p in parts.items()}, {s: p[1] for s, p in parts.items()})
    store = RunStore(tmp_path)
    configs = [DCMQConfig(bits=16, epochs=1, kmeans_iters=2, seed=s) for s in (0, 1)]
    with torch_threads(1):
        cold, hit = fit_dcmq_runs_stored(configs, data["train"], data["val"], store=store)
        assert not hit
        (entry,) = [p for p in tmp_path.iterdir() if p.is_dir()]
        (entry / "codes.safetensors").write_bytes(b"not the codes")
        with pytest.warns(StoredRunWarning, match="codes.safetensors differs from manifest.json"):
            again, hit = fit_dcmq_runs_stored(configs, data["train"], data["val"], store=store)
        assert not hit and fit_dcmq_runs_stored(configs, data["train"], data["val"], store=store)[1]
    for a, b in zip(cold, again):
        np.testing.assert_array_equal(a.image_codes, b.image_codes)
