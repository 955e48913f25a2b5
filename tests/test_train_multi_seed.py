"""Seeds trained as one batched model give the numbers of separate runs."""
import numpy as np
import pytest
import torch

from vlr_viz.train import fit
from vlr_viz.runner.multi_seed import fit_seeds
from vlr_viz.train.threads import torch_threads

from synthetic_features import synthetic, tiny


@pytest.mark.parametrize("overrides", [
    {"method": "baseline", "dropout": 0.1},
    {"method": "sad", "dropout": 0.1, "distance": "kl", "center_teachers": True, "tau2": 0.1,
     "weights": {"kd_loss": 0.2, "rep_img_loss": 0.0, "rep_txt_loss": 0.0}},
    {"method": "sad", "dropout": 0.0, "lambda_param": "softmax", "depth": 3},
])
def test_batched_seeds_equal_separate_runs(overrides):
    train, val = synthetic(0), synthetic(1, n_img=24, extra=4)
    config = tiny(epochs_stage1=2, epochs_stage2=2, **overrides)
    with torch_threads(1):
        batched = fit_seeds(config, [0, 3, 7], train, val, together=True)
        separate = [fit(tiny(epochs_stage1=2, epochs_stage2=2, seed=s, **overrides), train, val, progress=False)
                    for s in (0, 3, 7)]
    for b, s in zip(batched, separate):
        assert b.config.seed == s.config.seed and b.best_epoch == s.best_epoch
        assert b.best_metrics == pytest.approx(s.best_metrics, abs=1e-6)
        for k, v in s.model.state_dict().items():
            torch.testing.assert_close(b.model.state_dict()[k], v, rtol=1e-4, atol=1e-5, msg=k)
        for eb, es in zip(b.history.epochs, s.history.epochs):
            assert eb["val_rsum"] == pytest.approx(es["val_rsum"], abs=1e-6)
            assert eb.get("loss", 0.0) == pytest.approx(es.get("loss", 0.0), rel=1e-4)
        np.testing.assert_allclose(b.history.snapshots[4]["S_v"], s.history.snapshots[4]["S_v"], atol=1e-4)
    assert len({r.best_metrics["rsum"] for r in batched}) > 1  # the seeds really differ
    assert all(r.history.meta.get("trained_together") == 3 for r in batched)


def test_on_a_cpu_runs_of_one_shape_train_one_after_the_other_unless_asked():
    train, val = synthetic(0), synthetic(1, n_img=24, extra=4)
    with torch_threads(1):
        default = fit_seeds(tiny(epochs_stage1=1, epochs_stage2=1), [0, 1], train, val)
        separate = [fit(tiny(epochs_stage1=1, epochs_stage2=1, seed=s), train, val, progress=False) for s in (0, 1)]
    for d, s in zip(default, separate):
        assert "trained_together" not in d.history.meta
        assert d.best_metrics == s.best_metrics  # the very same computation


def test_fit_seeds_refuses_repeated_seeds():
    with pytest.raises(ValueError, match="distinct"):
        fit_seeds(tiny(), [1, 1], synthetic(0), synthetic(1))


def test_methods_of_the_same_shape_train_together_like_alone():
    from vlr_viz.train import recipe_config
    from vlr_viz.runner.multi_seed import fit_batched

    train, val = synthetic(0), synthetic(1, n_img=24, extra=4)
    shape = dict(epochs_stage1=1, epochs_stage2=2, batch_size=16, hidden=16, embed_dim=8, lr=3e-3, n_probe=12,
                 snapshot_every=1, device="cpu")
    configs = [recipe_config(r, seed=s, **shape) for r in ("baseline", "sad", "sad-kl") for s in (0, 1)]
    configs.append(recipe_config("covlr", seed=0, **shape))  # trains alone, in its place
    with torch_threads(1):
        together = fit_batched(configs, train, val, together=True)
        alone = [fit(c, train, val, progress=False) for c in configs]
    for t, a in zip(together, alone):
        assert t.config == a.config and t.best_epoch == a.best_epoch
        assert t.best_metrics == pytest.approx(a.best_metrics, abs=1e-6)
    with pytest.raises(ValueError, match=r"must agree on \['hidden'\]"):
        fit_batched([configs[0], recipe_config("sad", **{**shape, "hidden": 32})], train, val)
