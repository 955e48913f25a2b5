"""Stored tables (`vlr_viz.store.tables`) and the analyses of the rebalancing report that go through them: a table
comes back exactly as computed, a second call computes nothing, a change of any input computes again, and a
damaged entry is reported and recomputed."""
import types

import numpy as np
import pandas as pd
import pytest
import torch

from vlr_viz.eval import caption_image_relevance
from vlr_viz.experiments import study_analysis
from vlr_viz.experiments.study import Run, Splits
from vlr_viz.store.arrays import CorruptCacheWarning
from vlr_viz.store.tables import analysis_path, stored_table
from test_study_stats import _pairs


def _frame() -> pd.DataFrame:
    df = pd.DataFrame({"name": ["a", "b", "c"], "n": np.array([1, 2, 3], dtype=np.int64),
                       "x": [0.1, np.nan, 1 / 3], "flag": [True, False, True], "note": ["", None, "z"]})
    df.attrs["empty_queries"] = "skip"
    return df


def test_a_stored_table_comes_back_exactly_and_is_computed_once(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return _frame()

    path = tmp_path / "t" / "key1.json"
    first = stored_table(path, compute)
    second = stored_table(path, compute)
    assert len(calls) == 1
    for df in (first, second):
        pd.testing.assert_frame_equal(df, _frame(), check_exact=True)
        assert df.attrs == {"empty_queries": "skip"}
    empty = stored_table(tmp_path / "empty.json", lambda: pd.DataFrame(columns=["a", "b"]).astype(float))
    again = stored_table(tmp_path / "empty.json", lambda: pytest.fail("computed again"))
    pd.testing.assert_frame_equal(again, empty)


def test_a_damaged_or_foreign_entry_is_reported_and_recomputed(tmp_path):
    path = tmp_path / "key1.json"
    stored_table(path, _frame)
    path.write_text(path.read_text()[:40])
    with pytest.warns(CorruptCacheWarning, match="key1.json is damaged"):
        df = stored_table(path, _frame)
    pd.testing.assert_frame_equal(df, _frame(), check_exact=True)
    (tmp_path / "key2.json").write_text(path.read_text())  # a copy under another name holds key1
    with pytest.warns(CorruptCacheWarning, match="holds key key1"):
        stored_table(tmp_path / "key2.json", _frame)
    pd.testing.assert_frame_equal(stored_table(tmp_path / "key2.json", lambda: pytest.fail("recomputed")), _frame(),
                                  check_exact=True)


def test_analysis_paths_key_every_input(tmp_path):
    a = np.arange(6.0).reshape(3, 2)
    base = analysis_path("kind", "1", a, "skip", store_dir=tmp_path)
    assert base.parent == tmp_path / "kind" and base == analysis_path("kind", "1", a.copy(), "skip",
                                                                      store_dir=tmp_path)
    b = a.copy()
    b[2, 1] += 1e-9
    others = [analysis_path("kind", "2", a, "skip", store_dir=tmp_path),
              analysis_path("other", "1", a, "skip", store_dir=tmp_path),
              analysis_path("kind", "1", b, "skip", store_dir=tmp_path),
              analysis_path("kind", "1", a, "zero", store_dir=tmp_path)]
    assert len({base, *others}) == 5


def _runs(seed=0):
    pairs = _pairs()
    rng = np.random.default_rng(seed)
    runs = []
    for name in ("a", "b"):
        img = rng.normal(size=(6, 4)).astype(np.float32)
        runs.append(Run(name, 0, None, img, img[pairs.txt_to_img] + rng.normal(size=(8, 4)).astype(np.float32), 0.0))
    return runs, Splits({"test": pairs}, {}, caption_image_relevance(pairs), "clean")


def test_the_query_bootstrap_is_stored(monkeypatch):
    (run, reference), splits = _runs()
    cold = study_analysis.query_bootstrap(run, reference, splits, ks=(1, 5), n_resamples=200)
    compute = study_analysis._query_bootstrap
    monkeypatch.setattr(study_analysis, "_query_bootstrap", lambda *a: pytest.fail("computed again"))
    warm = study_analysis.query_bootstrap(run, reference, splits, ks=(1, 5), n_resamples=200)
    pd.testing.assert_frame_equal(warm, cold, check_exact=True)
    calls = []
    monkeypatch.setattr(study_analysis, "_query_bootstrap", lambda *a: calls.append(1) or compute(*a))
    study_analysis.query_bootstrap(run, reference, splits, ks=(1, 5), n_resamples=300)
    moved = Run(run.method, 0, None, run.img_emb + np.float32(1e-3), run.txt_emb, 0.0)
    study_analysis.query_bootstrap(moved, reference, splits, ks=(1, 5), n_resamples=200)
    assert len(calls) == 2  # another resample count, another embedding: computed again


def test_the_run_summary_is_stored(monkeypatch):
    from test_train_fit import synthetic, tiny
    from vlr_viz.train import fit

    result = fit(tiny(method="baseline", epochs_stage1=1, epochs_stage2=0), synthetic(0),
                 synthetic(1, n_img=24, extra=4), progress=False)
    (run, reference), splits = _runs()
    runs = {("clean", "a", 0): Run("a", 0, result, run.img_emb, run.txt_emb, 0.0),
            ("clean", "b", 0): Run("b", 0, result, reference.img_emb, reference.txt_emb, 0.0)}
    t2i = splits.pairs["test"].txt_to_img
    cold = study_analysis.run_summary(runs, t2i)
    assert cold["modality_gap"].iloc[1] == study_analysis.modality_gap(reference.img_emb, reference.txt_emb)
    monkeypatch.setattr(study_analysis, "alignment_uniformity", lambda *a: pytest.fail("computed again"))
    pd.testing.assert_frame_equal(study_analysis.run_summary(runs, t2i), cold, check_exact=True)
    runs[("clean", "b", 0)].img_emb = reference.img_emb * 2  # another embedding: computed again
    with pytest.raises(pytest.fail.Exception, match="computed again"):
        study_analysis.run_summary(runs, t2i)


def test_the_reliability_lambda_of_a_feature_set_is_stored(monkeypatch):
    rng = np.random.default_rng(3)  # random features: the store is under test, not the measure
    pairs = types.SimpleNamespace(txt_to_img=np.r_[np.arange(12), [0, 3, 5, 7]], labels=np.arange(12) % 3)
    feats = types.SimpleNamespace(image=rng.normal(size=(12, 5)).astype(np.float32),
                                  text=rng.normal(size=(16, 3)).astype(np.float32))
    calls = []
    real = study_analysis.reliability_lambda

    def counted(*a, **k):
        calls.append(k["reference"])
        return real(*a, **k)

    monkeypatch.setattr(study_analysis, "reliability_lambda", counted)
    cold = study_analysis._reliability_lambdas(feats, pairs, ("pairs", "labels"))
    warm = study_analysis._reliability_lambdas(feats, pairs, ("pairs", "labels"))
    pd.testing.assert_frame_equal(warm, cold, check_exact=True)
    assert calls == ["pairs", "labels"] and cold["reference"].tolist() == ["pairs", "labels"]
    lam, info = real(feats.image, feats.text, pairs.txt_to_img, reference="labels", labels=pairs.labels)
    assert cold.set_index("reference").loc["labels", "lam"] == lam
    feats.text = feats.text[::-1].copy()
    study_analysis._reliability_lambdas(feats, pairs, ("pairs", "labels"))
    assert len(calls) == 4


def test_the_lambda_landscape_is_stored_per_model_state(monkeypatch):
    from test_train_fit import synthetic, tiny
    from vlr_viz.train import fit

    train, val = synthetic(0), synthetic(1, n_img=24, extra=4)
    result = fit(tiny(distance="kl", weights={"kd_loss": 0.2}, epochs_stage1=1, epochs_stage2=1), train, val,
                 progress=False)
    run, splits = Run("sad-kl", 0, result, None, None, 0.0), Splits({}, {"train": train}, None, "clean")
    cold = study_analysis.lambda_landscape(run, splits, lambdas=[0.0, 1.0], n_batches=2)
    monkeypatch.setattr(study_analysis, "_lambda_landscape", lambda *a: pytest.fail("computed again"))
    pd.testing.assert_frame_equal(study_analysis.lambda_landscape(run, splits, lambdas=[0.0, 1.0], n_batches=2),
                                  cold, check_exact=True)
    with torch.no_grad():
        next(result.model.encoder.parameters()).add_(1e-3)
    with pytest.raises(pytest.fail.Exception, match="computed again"):
        study_analysis.lambda_landscape(run, splits, lambdas=[0.0, 1.0], n_batches=2)


def test_code_metrics_are_stored_exactly(tmp_path, monkeypatch):
    from vlr_viz.eval import codes
    from vlr_viz.store.evaluations import stored_code_retrieval_metrics

    rng = np.random.default_rng(5)  # random queries and codes: the store is under test, not a code
    g = torch.Generator().manual_seed(5)
    codebooks = torch.randn(2, 4, 3, generator=g)
    img, txt = torch.randn(6, 6, generator=g), torch.randn(9, 6, generator=g)
    img_codes = torch.randint(0, 4, (6, 2), dtype=torch.uint8, generator=g)
    txt_codes = torch.randint(0, 4, (9, 2), dtype=torch.uint8, generator=g)
    t2i, labels = torch.as_tensor(np.r_[np.arange(6), [0, 2, 4]]), rng.integers(0, 2, 6)
    args = (img, txt, img_codes, txt_codes, codebooks, t2i, labels, (1, 5), (3,))
    expected = codes.code_retrieval_metrics(*args)
    assert stored_code_retrieval_metrics(*args, store_dir=tmp_path) == expected
    monkeypatch.setattr(codes, "code_retrieval_metrics", lambda *a: pytest.fail("computed again"))
    warm = stored_code_retrieval_metrics(*args, store_dir=tmp_path)
    assert warm == expected and list(warm) == list(expected)
    with pytest.raises(pytest.fail.Exception):
        stored_code_retrieval_metrics(img, txt, img_codes, (txt_codes + 1) % 4, *args[4:], store_dir=tmp_path)
