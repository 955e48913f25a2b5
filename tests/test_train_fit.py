"""`fit` on a small synthetic split: stages, weights, schedule, selection, history, determinism, resume, NaN stop."""
import dataclasses
import inspect
import json
import math

import numpy as np
import pytest
import torch

from vlr_viz.imbalance import modality_gap
from vlr_viz.models.fusion import reliability_lambda
from vlr_viz.train import History, NonFiniteLossError, PairFeatures, RunSpan, fit, load_model
from vlr_viz.train.model import encode
from vlr_viz.train.trainer import validate

from synthetic_features import synthetic, tiny


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return synthetic(0), synthetic(1, n_img=24, extra=4)


def states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_stages_terms_and_weights(data):
    train, val = data
    res = fit(tiny(weights={"kd_loss": 0.5}), train, val, progress=False)
    steps = res.history.step_frame()
    per_epoch = train.n_captions // 16
    assert len(steps) == 3 * per_epoch
    s1, s2 = steps[steps.stage == 1], steps[steps.stage == 2]
    assert s1["kd_loss"].isna().all() and s1["match_loss"].notna().all()
    for term, w in res.config.weights.items():
        assert s2[term].notna().all()
        np.testing.assert_allclose(s2[f"w_{term}"], w * s2[term], rtol=1e-5)
    np.testing.assert_allclose(s2["loss"], s2[[f"w_{k}" for k in res.config.weights]].sum(1), rtol=1e-5)
    np.testing.assert_allclose(s1["loss"], s1["match_loss"], rtol=1e-6)


def test_lr_schedule_restarts_per_stage(data):
    train, val = data
    cfg = tiny(method="baseline", epochs_stage1=2, epochs_stage2=3, warmup_frac=0.2)
    lr = fit(cfg, train, val, progress=False).history.step_frame()["lr"].to_numpy()
    spe = train.n_captions // 16

    def expected(length):
        warm = int(0.2 * length)
        return [cfg.lr * (i + 1) / warm if i < warm else
                cfg.lr * 0.5 * (1 + math.cos(math.pi * (i - warm) / (length - warm))) for i in range(length)]

    np.testing.assert_allclose(lr, expected(2 * spe) + expected(3 * spe), rtol=1e-12)


def test_selects_best_validation_epoch(data):
    train, val = data
    res = fit(tiny(method="baseline", epochs_stage1=2, epochs_stage2=2), train, val, progress=False)
    epochs = res.history.epoch_frame()
    trained = epochs[epochs.epoch >= 1]
    assert res.best_epoch == int(trained.loc[trained.val_rsum.idxmax(), "epoch"])
    assert validate(res.model, val)["rsum"] == pytest.approx(res.best_metrics["rsum"])
    assert res.history.meta["best_epoch"] == res.best_epoch


def test_history_records_the_modality_gap_of_every_epoch(data):
    train, val = data
    res = fit(tiny(method="baseline", epochs_stage1=1, epochs_stage2=1), train, val, progress=False)
    gaps = res.history.epoch_frame()["val_modality_gap"]
    assert len(gaps) == 3 and gaps.notna().all()  # epochs 0 (before training), 1, 2
    img, txt = encode(res.model, val.image, val.text)  # the selected epoch's model
    assert gaps[res.best_epoch] == pytest.approx(modality_gap(img, txt), rel=1e-5)


def test_deterministic_for_a_seed(data):
    train, val = data
    a = fit(tiny(), train, val, progress=False)
    b = fit(tiny(), train, val, progress=False)
    c = fit(tiny(seed=1), train, val, progress=False)
    assert states_equal(a.model.state_dict(), b.model.state_dict())
    assert a.history.steps == b.history.steps
    assert not states_equal(a.model.state_dict(), c.model.state_dict())


def test_resume_reaches_the_same_result(data, tmp_path):
    train, val = data
    cfg = tiny(epochs_stage1=1, epochs_stage2=2)
    full = fit(cfg, train, val, progress=False, span=RunSpan(checkpoint_dir=tmp_path / "full"))
    part = fit(cfg, train, val, progress=False, span=RunSpan(checkpoint_dir=tmp_path / "split", until_epoch=2))
    assert part.last_epoch == 2
    rest = fit(cfg, train, val, progress=False,
               span=RunSpan(checkpoint_dir=tmp_path / "split", resume_from=tmp_path / "split"))
    assert rest.best_epoch == full.best_epoch and rest.last_epoch == 3
    assert states_equal(rest.model.state_dict(), full.model.state_dict())
    assert rest.history.steps == full.history.steps
    last = load_model(tmp_path / "split", which="last")
    ref = load_model(tmp_path / "full", which="last")
    assert states_equal(last.state_dict(), ref.state_dict())
    with pytest.raises(ValueError, match="config differs in .*lr"):
        fit(tiny(lr=1e-2), train, val, progress=False, span=RunSpan(resume_from=tmp_path / "split"))


def test_feature_dims_must_match_checkpoint(data, tmp_path):
    train, val = data
    fit(tiny(epochs_stage2=0), train, val, progress=False, span=RunSpan(checkpoint_dir=tmp_path / "ck"))
    other_train, other_val = synthetic(0, di=10), synthetic(1, n_img=24, extra=4, di=10)
    with pytest.raises(ValueError, match=r"feature dimensions do not match.*image: checkpoint has \[12\], data has \[10\]"):
        fit(tiny(epochs_stage2=0), other_train, other_val, progress=False, span=RunSpan(resume_from=tmp_path / "ck"))


def test_nan_stops_and_keeps_last_good_checkpoint(data, tmp_path, monkeypatch):
    train, val = data
    from vlr_viz import losses

    real = losses.structure_loss

    def broken(*args, **kwargs):
        out = real(*args, **kwargs)
        return {**out, "kd_t_loss": out["kd_t_loss"] * float("nan")}

    monkeypatch.setattr(losses, "structure_loss", broken)
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step \d+: kd_t_loss=nan.*epoch 1 .* is kept"):
        fit(tiny(), train, val, progress=False, span=RunSpan(checkpoint_dir=tmp_path / "ck"))
    state = json.loads((tmp_path / "ck" / "trainer_state.json").read_text())
    assert state["epoch"] == 1
    assert np.isfinite(History.load(tmp_path / "ck").step_frame()["loss"]).all()


def test_bad_data_is_refused(data):
    train, val = data
    with pytest.raises(ValueError, match="batch_size 128 is larger than the training split"):
        fit(tiny(batch_size=128), train, val, progress=False)
    bad = train.teacher_image.clone()
    bad[3, 2] = float("inf")
    with pytest.raises(ValueError, match="teacher_image contains NaN or inf"):
        PairFeatures(train.image, train.text, train.txt_to_img, teacher_image=bad)
    with pytest.raises(ValueError, match="txt_to_img"):
        PairFeatures(train.image, train.text, train.txt_to_img[:-1])


def test_history_files_and_snapshots(data, tmp_path):
    train, val = data
    res = fit(tiny(lambda_param="raw", init_lambda=0.3), train, val, progress=False)
    res.history.save(tmp_path)
    h = History.load(tmp_path)
    assert h.steps == res.history.steps and h.meta["lambda_mode"] == "learned"
    assert sorted(h.snapshots) == [0, 1, 2, 3]
    probe = np.asarray(h.probe["captions"])
    assert probe.size == 12 and np.all(np.diff(h.probe["labels"]) >= 0)  # ordered by category
    assert np.array_equal(h.probe["images"], val.txt_to_img[probe].numpy())
    epochs = h.epoch_frame().set_index("epoch")
    for e, snap in h.snapshots.items():
        assert set(snap) == {"S_pair", "S_v", "S_t", "S_vt", "R_v", "R_t", "E"}
        assert all(x.shape == (12, 12) for x in snap.values())
        lam = epochs.loc[e, "lam"]
        np.testing.assert_allclose(snap["E"], lam * snap["R_t"] + (1 - lam) * snap["R_v"], rtol=1e-4, atol=1e-4)
        a = val.teacher_image[val.txt_to_img[probe]].numpy()
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        np.testing.assert_allclose(snap["R_v"], a @ a.T / 0.07, rtol=1e-4, atol=1e-4)
    assert len(set(h.step_frame()["lam"].round(7))) > 1  # the learned raw λ moves


def test_centred_snapshots_keep_the_raw_teacher_relations_for_drift(data):
    from vlr_viz.imbalance.diagnostics import relation_distortion
    from vlr_viz.viz.drift import distortion_frame

    train, val = data
    res = fit(tiny(center_teachers=True, snapshot_every=3), train, val, progress=False)
    probe = np.asarray(res.history.probe["captions"])
    a = val.teacher_image[val.txt_to_img[probe]].numpy().astype(np.float64)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    snap = res.history.snapshots[3]
    np.testing.assert_allclose(snap["R_v"], unit(a - a.mean(0)) @ unit(a - a.mean(0)).T / 0.07, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(snap["R_v_raw"], unit(a) @ unit(a).T / 0.07, rtol=1e-4, atol=1e-4)
    frame = distortion_frame(res.history).set_index(["epoch", "modality"])
    expected = relation_distortion(snap["S_v"], snap["R_v_raw"], scale=0.07)
    assert frame.loc[(3, "image"), "mae"] == pytest.approx(expected["mae"])


def test_lambda_modes(data):
    train, val = data
    fixed = fit(tiny(lambda_mode="fixed", init_lambda=0.7), train, val, progress=False)
    assert np.allclose(fixed.history.step_frame()["lam"], 0.7)
    rel = fit(tiny(lambda_mode="reliability"), train, val, progress=False)
    lam, info = reliability_lambda(train.image.numpy(), train.text.numpy(), train.txt_to_img.numpy())
    assert rel.history.meta["lambda_mode"] == "reliability"
    assert rel.history.meta["reliability"]["rel_t"] == pytest.approx(info["rel_t"])
    assert np.allclose(rel.history.step_frame()["lam"], lam, atol=1e-6)


def test_epochs_can_be_selected_on_category_map(data):
    """For class-level captions the run can select its epoch on category mAP of the validation split."""
    from vlr_viz.eval.category import category_retrieval
    from vlr_viz.train import encode

    train, val = data
    result = fit(tiny(select_metric="category_map", epochs_stage2=3), train, val, progress=False)
    rows = [e for e in result.history.epochs if e["epoch"] > 0]
    assert all("val_category_map" in e and "val_category_R@1" in e for e in rows)
    best = max(rows, key=lambda e: e["val_category_map"])
    assert result.best_epoch == best["epoch"]
    img, txt = encode(result.model, val.image, val.text)
    again = category_retrieval(img, txt, val.labels, val.labels[val.txt_to_img.numpy()])
    assert again["map_mean"] == pytest.approx(best["val_category_map"])


def test_bf16_precision_multiplies_in_bfloat16_and_keeps_float32_state():
    """``precision="bf16"``: the towers' products run in bfloat16 during training steps (autocast) but not during
    validation; weights stay float32; the run learns like the float32 one without equalling it; a float32 config
    keeps the run-store key it had before the field existed."""
    from synthetic_features import synthetic, tiny

    from vlr_viz.keys import content_hash
    from vlr_viz.store.runs import TRAINING_CODE_VERSION, fingerprint, run_key

    train, val = synthetic(0), synthetic(1, n_img=24, extra=4)
    seen = []

    def record(module, inputs, output):
        seen.append((module.training, output.dtype))

    results = {}
    for precision in ("fp32", "bf16"):
        cfg = tiny(method="baseline", precision=precision, dropout=0.0, epochs_stage1=2, epochs_stage2=6)
        seen.clear()
        with torch.nn.modules.module.register_module_forward_hook(
                lambda m, i, o: record(m, i, o) if isinstance(m, torch.nn.Linear) else None):
            results[precision] = fit(cfg, train, val, progress=False)
        dtypes = {training: {d for t, d in seen if t == training} for training in (True, False)}
        assert dtypes[False] == {torch.float32}
        assert dtypes[True] == ({torch.bfloat16} if precision == "bf16" else {torch.float32})
        assert all(p.dtype == torch.float32 for p in results[precision].model.parameters())
    fp32, bf16 = results["fp32"], results["bf16"]
    assert not torch.equal(next(fp32.model.parameters()), next(bf16.model.parameters()))
    assert abs(fp32.best_metrics["rsum"] - bf16.best_metrics["rsum"]) <= 10
    chance = 2 * 100 * (1 + 5 + 10) / val.n_images  # RSUM of random rankings (both directions)
    assert bf16.best_metrics["rsum"] > 1.5 * chance and fp32.best_metrics["rsum"] > 1.5 * chance
    cfg = tiny(method="baseline")
    before = {k: v for k, v in cfg.to_dict().items() if k != "precision"}
    assert run_key(cfg, train, val) == content_hash("run", before, fingerprint(train), fingerprint(val), None, None,
                                                    None, TRAINING_CODE_VERSION)
    assert run_key(tiny(method="baseline", precision="bf16"), train, val) != run_key(cfg, train, val)


def test_fit_takes_at_most_four_keyword_arguments_besides_config_and_splits():
    """Where a run starts, stops and what it leaves behind travel as one `RunSpan` (issue 25: at most four)."""
    parameters = inspect.signature(fit).parameters.values()
    assert [p.name for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY] == ["config", "train", "val"]
    assert len([p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]) <= 4


@pytest.mark.parametrize("name", ["checkpoint_dir", "resume_from", "until_epoch", "stage1", "record_stage1"])
def test_fit_refuses_the_span_arguments_by_their_old_names(name):
    train = synthetic(0)
    with pytest.raises(TypeError, match=name):
        fit(tiny(), train, train, progress=False, **{name: None})


def test_a_span_is_frozen_and_checked_when_built():
    with pytest.raises(ValueError, match="either stage1 or resume_from"):
        RunSpan(stage1=object(), resume_from="x")
    with pytest.raises(ValueError, match="record_stage1 must be a list"):
        RunSpan(record_stage1=())
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunSpan().until_epoch = 2
