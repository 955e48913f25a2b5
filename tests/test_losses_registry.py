"""Loss registry and the weighted sum of named terms."""
import pytest
import torch

from vlr_viz.losses import DEFAULT_WEIGHTS, LOSSES, get_loss, structure_loss, weighted_sum


def test_registry_names():
    assert get_loss("structure") is structure_loss
    assert set(LOSSES) == {"matching", "vse_hinge", "representation", "structure"}
    with pytest.raises(ValueError, match="unknown loss 'itm'"):
        get_loss("itm")


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
