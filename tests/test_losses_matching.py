"""Matching losses (InfoNCE multi-positive, VSE++ hinge) against plain numpy loops."""
import math

import numpy as np
import pytest
import torch

from vlr_viz.losses import matching_loss, positive_targets, vse_hinge_loss

from numpy_oracles import unit

pytestmark = pytest.mark.usefixtures("float64_default")  # golden values are computed in float64


def numpy_infonce(v, t, ids, scale):
    v, t = unit(v), unit(t)
    B = len(ids)
    total = 0.0
    for logits in (scale * v @ t.T, scale * t @ v.T):
        for i in range(B):
            pos = [j for j in range(B) if ids[j] == ids[i]]
            lse = math.log(sum(math.exp(logits[i, j]) for j in range(B)))
            total += -sum((logits[i, j] - lse) / len(pos) for j in pos) / B
    return 0.5 * total


def numpy_vse(v, t, ids, margin):
    v, t = unit(v), unit(t)
    s = v @ t.T
    B = len(ids)
    total = 0.0
    for i in range(B):
        negs = [j for j in range(B) if ids[j] != ids[i]]
        if not negs:
            continue
        total += max(max(margin + s[i, j] - s[i, i] for j in negs), 0.0)
        total += max(max(margin + s[j, i] - s[i, i] for j in negs), 0.0)
    return total / B


@pytest.fixture
def batch():
    rng = np.random.default_rng(3)
    v, t = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    ids = np.array([0, 1, 1, 2, 3, 3])  # images 1 and 3 appear twice (two captions each)
    return v, t, ids


def test_positive_targets_rows():
    y = positive_targets(torch.tensor([5, 7, 5, 5]))
    expected = np.array([[1, 0, 1, 1], [0, 1, 0, 0], [1, 0, 1, 1], [1, 0, 1, 1]]) / np.array([[3], [1], [3], [3]])
    np.testing.assert_allclose(y.numpy(), expected)


def test_matching_hand_worked():
    # v = t = I2, 1/τ = 1: each row has logits (1, 0), CE = log(1 + e^-1)
    out = matching_loss(torch.eye(2), torch.eye(2), torch.tensor([0, 1]), logit_scale=1.0)
    assert out["match_loss"].item() == pytest.approx(math.log(1 + math.exp(-1)))


@pytest.mark.parametrize("scale", [1.0, 14.2857])
def test_matching_matches_numpy(batch, scale):
    v, t, ids = batch
    out = matching_loss(torch.tensor(v), torch.tensor(t), torch.tensor(ids), logit_scale=torch.tensor(scale))
    assert set(out) == {"match_loss"}
    assert out["match_loss"].item() == pytest.approx(numpy_infonce(v, t, ids, scale), rel=1e-10)


def test_matching_multi_positive_differs_from_diagonal(batch):
    v, t, ids = batch
    unique = matching_loss(torch.tensor(v), torch.tensor(t), torch.arange(6), logit_scale=10.0)["match_loss"]
    shared = matching_loss(torch.tensor(v), torch.tensor(t), torch.tensor(ids), logit_scale=10.0)["match_loss"]
    assert unique.item() == pytest.approx(numpy_infonce(v, t, np.arange(6), 10.0))
    assert abs(unique.item() - shared.item()) > 1e-3


@pytest.mark.parametrize("margin", [0.0, 0.2, 1.5])
def test_vse_matches_numpy(batch, margin):
    v, t, ids = batch
    out = vse_hinge_loss(torch.tensor(v), torch.tensor(t), torch.tensor(ids), margin=margin)
    assert out["match_loss"].item() == pytest.approx(numpy_vse(v, t, ids, margin), rel=1e-10)


def test_vse_positives_are_not_negatives():
    # two captions of one image, identical embeddings: with positives masked there is no negative at all
    v = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    t = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert vse_hinge_loss(v, t, torch.tensor([4, 4]))["match_loss"].item() == 0.0
    assert vse_hinge_loss(v, t, torch.tensor([4, 5]))["match_loss"].item() == pytest.approx(0.4)


def test_bad_inputs():
    v = torch.randn(3, 4)
    with pytest.raises(ValueError, match="img_id"):
        matching_loss(v, v, torch.tensor([0, 1]), logit_scale=1.0)
    with pytest.raises(ValueError, match="v and t"):
        matching_loss(v, torch.randn(3, 5), torch.arange(3), logit_scale=1.0)
    with pytest.raises(TypeError, match="img_id"):
        matching_loss(v, v, torch.tensor([0.0, 1.0, 2.0]), logit_scale=1.0)
    with pytest.raises(ValueError, match="margin"):
        vse_hinge_loss(v, v, torch.arange(3), margin=-1)
