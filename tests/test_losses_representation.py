"""Representation-level distillation against numpy, and its gradient routing."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from vlr_viz.losses import representation_loss

from numpy_oracles import unit

pytestmark = pytest.mark.usefixtures("float64_default")  # golden values are computed in float64


def numpy_one_way(q, k, ids, scale):
    logits = scale * unit(q) @ unit(k).T
    B = len(ids)
    total = 0.0
    for i in range(B):
        pos = [j for j in range(B) if ids[j] == ids[i]]
        lse = math.log(np.exp(logits[i]).sum())
        total -= sum(logits[i, j] - lse for j in pos) / len(pos)
    return total / B


def test_representation_matches_numpy():
    rng = np.random.default_rng(0)
    v, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    a, b = rng.normal(size=(5, 7)), rng.normal(size=(5, 4))
    ids = np.array([0, 0, 1, 2, 3])
    pv, pt = nn.Linear(7, 3), nn.Linear(4, 3)
    out = representation_loss(torch.tensor(v), torch.tensor(t), torch.tensor(a), torch.tensor(b),
                              torch.tensor(ids), proj_v=pv, proj_t=pt, logit_scale=5.0)
    with torch.no_grad():
        pa = pv(torch.tensor(a)).numpy()
        pb = pt(torch.tensor(b)).numpy()
    assert out["rep_img_loss"].item() == pytest.approx(numpy_one_way(v, pa, ids, 5.0), rel=1e-10)
    assert out["rep_txt_loss"].item() == pytest.approx(numpy_one_way(t, pb, ids, 5.0), rel=1e-10)


def test_representation_gradients():
    torch.manual_seed(0)
    v, t = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    a, b = torch.randn(4, 6, requires_grad=True), torch.randn(4, 5, requires_grad=True)
    pv, pt = nn.Linear(6, 3), nn.Linear(5, 3)
    out = representation_loss(v, t, a, b, torch.arange(4), proj_v=pv, proj_t=pt, logit_scale=10.0)
    out["rep_img_loss"].backward()
    assert v.grad.abs().sum() > 0 and pv.weight.grad.abs().sum() > 0
    assert t.grad is None and pt.weight.grad is None  # the image term touches only the image side
    assert a.grad is None and b.grad is None  # teachers are frozen
