"""CoVLR meta step: first order against a hand-made MLDG step, second order against finite differences."""
import copy

import pytest
import torch

from vlr_viz.losses import matching_loss, structure_loss
from vlr_viz.models.towers import DualEncoder
from vlr_viz.train import TrainConfig
from vlr_viz.losses.covlr import covlr_terms
from vlr_viz.train.model import RetrievalModel


def setup(second_order=False, alpha=0.5):
    torch.manual_seed(0)
    cfg = TrainConfig(method="covlr", covlr_alpha=alpha, covlr_gamma=1.5, covlr_second_order=second_order,
                      dropout=0.0, embed_dim=4, device="cpu")
    enc = DualEncoder(6, 5, embed_dim=4, hidden=8, depth=2, dropout=0.0)
    model = RetrievalModel(enc, 4, 6, 5, cfg).double()
    x_img, x_txt = torch.randn(8, 6, dtype=torch.float64), torch.randn(8, 5, dtype=torch.float64)
    ids = torch.tensor([0, 1, 2, 2, 3, 4, 5, 6])
    batch = (x_img, x_txt, x_img * 2.0 + 0.5, x_txt - 0.3, ids)  # teachers: affine copies of the inputs
    return cfg, model, batch


def match_fn(model):
    return lambda v, t, ids: matching_loss(v, t, ids, logit_scale=model.logit_scale())


def total_grad(cfg, model, batch):
    terms = covlr_terms(model, *batch, cfg, match_fn(model))
    total = terms["match_loss"] + cfg.covlr_gamma * terms["rel_loss"]
    params = list(model.encoder.parameters())
    return terms, torch.autograd.grad(total, params)


def test_first_order_equals_manual_mldg_step():
    cfg, model, batch = setup()
    x_img, x_txt, a, b, ids = batch
    terms, grads = total_grad(cfg, model, batch)
    # by hand: gradient at θ, a copy moved to θ', gradient of L_rel there
    v, t = model.encoder(x_img, x_txt)
    match = matching_loss(v, t, ids, logit_scale=model.logit_scale())["match_loss"]
    g1 = torch.autograd.grad(match, list(model.encoder.parameters()))
    fast = copy.deepcopy(model)
    with torch.no_grad():
        for p, g in zip(fast.encoder.parameters(), g1):
            p -= cfg.covlr_alpha * g
    v2, t2 = fast.encoder(x_img, x_txt)
    rel = structure_loss(v2, t2, a, b, lam=fast.fusion.lam, tau2=fast.fusion.tau2, student_relation="intra")["kd_loss"]
    g2 = torch.autograd.grad(rel, list(fast.encoder.parameters()))
    assert terms["match_loss"].item() == pytest.approx(match.item(), rel=1e-12)
    assert terms["rel_loss"].item() == pytest.approx(rel.item(), rel=1e-12)
    for g, e1, e2 in zip(grads, g1, g2):
        torch.testing.assert_close(g, e1 + cfg.covlr_gamma * e2, rtol=1e-9, atol=1e-12)


def test_second_order_matches_finite_differences():
    cfg, model, batch = setup(second_order=True)
    _, grads = total_grad(cfg, model, batch)
    _, first = total_grad(setup(second_order=False)[0], model, batch)
    params = list(model.encoder.parameters())
    gen = torch.Generator().manual_seed(1)
    direction = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]

    def objective():
        terms = covlr_terms(model, *batch, cfg, match_fn(model))
        return (terms["match_loss"] + cfg.covlr_gamma * terms["rel_loss"]).item()

    eps = 1e-6
    with torch.no_grad():
        for p, d in zip(params, direction):
            p += eps * d
    up = objective()
    with torch.no_grad():
        for p, d in zip(params, direction):
            p -= 2 * eps * d
    down = objective()
    with torch.no_grad():
        for p, d in zip(params, direction):
            p += eps * d
    numeric = (up - down) / (2 * eps)
    second = sum((g * d).sum() for g, d in zip(grads, direction)).item()
    first_order = sum((g * d).sum() for g, d in zip(first, direction)).item()
    assert second == pytest.approx(numeric, rel=1e-5)
    assert abs(first_order - numeric) > 100 * abs(second - numeric)  # the Hessian term matters here


def test_rel_loss_moves_lambda_not_teachers():
    cfg, model, batch = setup()
    terms = covlr_terms(model, *batch, cfg, match_fn(model))
    terms["rel_loss"].backward()
    assert model.fusion.lambda_weight.grad is not None and model.fusion.lambda_weight.grad.abs() > 0
    assert model.logit_scale.log_scale.grad is None  # 1/τ is moved only by the matching loss at θ


def test_alpha_zero_is_a_plain_joint_step():
    cfg, model, batch = setup(alpha=0.0)
    x_img, x_txt, a, b, ids = batch
    terms = covlr_terms(model, *batch, cfg, match_fn(model))
    v, t = model.encoder(x_img, x_txt)
    rel = structure_loss(v, t, a, b, lam=model.fusion.lam, tau2=model.fusion.tau2, student_relation="intra")
    assert terms["rel_loss"].item() == pytest.approx(rel["kd_loss"].item(), rel=1e-12)
