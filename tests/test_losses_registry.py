"""The weighted sum of named terms, and the registry of training methods."""
import pytest
import torch

from vlr_viz.losses import DEFAULT_WEIGHTS, weighted_sum


def test_method_registry_gives_each_method_its_stage_weights():
    from vlr_viz.train import TrainConfig
    from vlr_viz.methods import get_method, method_names

    assert method_names() == ("baseline", "sad", "covlr")
    cfg = TrainConfig(method="sad", covlr_gamma=0.3)
    assert get_method("baseline").stage_weights(cfg, 2) == {"match_loss": 1.0}
    assert get_method("sad").stage_weights(cfg, 1) == {"match_loss": 1.0}
    assert get_method("sad").stage_weights(cfg, 2) == cfg.weights
    assert get_method("covlr").stage_weights(cfg, 2) == {"match_loss": 1.0, "rel_loss": 0.3}
    assert not get_method("covlr").trains_together and get_method("sad").trains_together
    with pytest.raises(ValueError, match="unknown method 'itm'"):
        get_method("itm")


def test_weighted_sum_values_and_terms():
    terms = {"match_loss": torch.tensor(2.0), "kd_loss": torch.tensor(0.5)}
    total, weighted = weighted_sum(terms, DEFAULT_WEIGHTS)  # weights of absent terms are ignored
    assert weighted == {"match_loss": torch.tensor(2.0), "kd_loss": torch.tensor(1.0)}
    assert total.item() == pytest.approx(2.0 * 1 + 0.5 * 2)


def test_weighted_sum_validation():
    with pytest.raises(ValueError, match="rel_loss"):
        weighted_sum({"rel_loss": torch.tensor(1.0)}, DEFAULT_WEIGHTS)
    with pytest.raises(ValueError, match="kd_loss"):
        weighted_sum({"kd_loss": torch.tensor(1.0)}, {"kd_loss": -1.0})
