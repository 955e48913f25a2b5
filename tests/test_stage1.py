"""Stage 1 trained once for the runs that share it (`vlr_viz.train.stage1`): every recipe continued from a stage 1
recorded by another recipe equals the same run trained whole, bit for bit (weights, selected epoch, every history
row and snapshot), and a stage 1 of other settings is refused by name."""
import numpy as np
import pytest
import torch

from synthetic_features import synthetic, tiny
from vlr_viz.train import RunSpan, fit
from vlr_viz.train.stage1 import stage1_signature

RECIPES = {
    "baseline": dict(method="baseline"),
    "sad": dict(method="sad"),
    "sad-kl": dict(method="sad", distance="kl", center_teachers=True, tau2=0.1,
                   weights={"kd_loss": 0.2, "rep_img_loss": 0.0, "rep_txt_loss": 0.0}),
    "sad-reliability": dict(method="sad", lambda_mode="reliability", learn_tau2=True),
    "covlr": dict(method="covlr", covlr_relation="all"),
}


def _without_seconds(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def _assert_same_run(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert (a.best_epoch, a.best_metrics, a.last_epoch, a.lambda_info) == (b.best_epoch, b.best_metrics,
                                                                           b.last_epoch, b.lambda_info)
    assert a.history.steps == b.history.steps
    assert _without_seconds(a.history.epochs) == _without_seconds(b.history.epochs)
    assert a.history.meta == b.history.meta
    assert sorted(a.history.snapshots) == sorted(b.history.snapshots)
    for epoch, arrays in a.history.snapshots.items():
        assert sorted(arrays) == sorted(b.history.snapshots[epoch])
        for name, x in arrays.items():
            np.testing.assert_array_equal(x, b.history.snapshots[epoch][name], err_msg=f"{epoch} {name}")


@pytest.fixture(scope="module")
def splits():
    return synthetic(0), synthetic(1, n_img=24, extra=4)


@pytest.fixture(scope="module")
def recorded(splits):
    """The stage 1 of a baseline run (two epochs, snapshots after each)."""
    train, val = splits
    out = []
    fit(tiny(epochs_stage1=2, epochs_stage2=2, **RECIPES["baseline"]), train, val, progress=False,
        span=RunSpan(record_stage1=out))
    assert len(out) == 1 and out[0].step == 2 * (train.n_captions // 16)
    return out[0]


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_a_run_continued_from_a_shared_stage1_equals_the_run_trained_whole(recipe, splits, recorded):
    train, val = splits
    config = tiny(epochs_stage1=2, epochs_stage2=2, **RECIPES[recipe])
    assert stage1_signature(config) == recorded.signature
    whole = fit(config, train, val, progress=False)
    continued = fit(config, train, val, progress=False, span=RunSpan(stage1=recorded))
    _assert_same_run(continued, whole)


def test_a_selected_stage1_epoch_keeps_the_runs_own_lambda_and_tau2(splits):
    """A structure term at a far too small τ2 spoils stage 2 here, so the selected epoch is the last of stage 1: its
    weights come from the shared stage 1, its λ (the teachers' reliability) and τ2 from the run's own config."""
    train, val = splits
    shared = []
    fit(tiny(epochs_stage1=8, epochs_stage2=1, method="baseline"), train, val, progress=False,
        span=RunSpan(record_stage1=shared))
    config = tiny(epochs_stage1=8, epochs_stage2=1, method="sad", distance="kl", tau2=0.001,
                  weights={"kd_loss": 100.0}, lambda_mode="reliability")
    whole = fit(config, train, val, progress=False)
    continued = fit(config, train, val, progress=False, span=RunSpan(stage1=shared[0]))
    assert whole.best_epoch == 8
    _assert_same_run(continued, whole)
    scalars = continued.model.scalars()
    assert scalars["lam"] == pytest.approx(continued.lambda_info["lambda_init"]) and scalars["lam"] != 0.5
    assert scalars["tau2"] == pytest.approx(0.001)


def test_a_stage1_of_other_settings_is_refused_by_name(splits, recorded):
    train, val = splits
    with pytest.raises(ValueError, match=r"\['lr'\] differ"):
        fit(tiny(epochs_stage1=2, epochs_stage2=2, lr=1e-2), train, val, progress=False, span=RunSpan(stage1=recorded))
    with pytest.raises(ValueError, match="no stage 2"):
        fit(tiny(epochs_stage1=2, epochs_stage2=0), train, val, progress=False, span=RunSpan(stage1=recorded))
    with pytest.raises(ValueError, match="trained on other features"):
        fit(tiny(epochs_stage1=2, epochs_stage2=2), synthetic(2, n_img=40), val, progress=False,
            span=RunSpan(stage1=recorded))
    with pytest.raises(ValueError, match="either stage1 or resume_from"):
        RunSpan(stage1=recorded, resume_from="x")
