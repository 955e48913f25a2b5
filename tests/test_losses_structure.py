"""Structure-aware distillation: every student relation × distance against a numpy loop; gradient routing."""
import math

import numpy as np
import pytest
import torch

from vlr_viz.losses import lambda_objective, off_diagonal, relation_distance, structure_loss
from vlr_viz.models.fusion import TeacherFusion

from numpy_oracles import unit

pytestmark = pytest.mark.usefixtures("float64_default")  # golden values are computed in float64


def np_distance(x, y, distance):
    """Loop over i ≠ j; KL per row with softmax over j ≠ i, target y."""
    B = x.shape[0]
    if distance in ("mae", "mse"):
        p = 1 if distance == "mae" else 2
        return sum(abs(x[i, j] - y[i, j]) ** p for i in range(B) for j in range(B) if i != j) / (B * (B - 1))
    total = 0.0
    for i in range(B):
        js = [j for j in range(B) if j != i]
        px = np.exp([x[i, j] for j in js]); px /= px.sum()
        py = np.exp([y[i, j] for j in js]); py /= py.sum()
        total += sum(py[k] * math.log(py[k] / px[k]) for k in range(len(js)))
    return total / B


def np_structure(v, t, a, b, lam, tau2, relation, distance, center=False):
    if center:
        a, b = a - a.mean(0), b - b.mean(0)
    v, t, a, b = unit(v), unit(t), unit(a), unit(b)
    r_v, r_t = a @ a.T / tau2, b @ b.T / tau2
    e = lam * r_t + (1 - lam) * r_v
    f = unit(v + t)
    d = lambda s: np_distance(s, e, distance)
    pair = d(f @ f.T / tau2)
    intra = 0.5 * (d(v @ v.T / tau2) + d(t @ t.T / tau2))
    inter = d(v @ t.T / tau2)
    kd = {"pair": pair, "intra": intra, "inter": inter, "all": (pair + intra + inter) / 3}[relation]
    return {"kd_loss": kd, "kd_v_loss": np_distance(r_v, e, distance), "kd_t_loss": np_distance(r_t, e, distance)}


@pytest.fixture(scope="module")
def feats():
    rng = np.random.default_rng(7)
    return rng.normal(size=(5, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 6)) + 1.0, rng.normal(size=(5, 3))


def test_off_diagonal_order():
    x = torch.arange(16.0).view(4, 4)
    expected = [[x[i, j].item() for j in range(4) if j != i] for i in range(4)]
    assert off_diagonal(x).tolist() == expected


def test_hand_worked_mae():
    # B=2, τ2=1: one off-diagonal value per row; S_v entries = cos(v0, v1) = 0, E entries = λ·1 + (1-λ)·0
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    out = structure_loss(v, v, a, b, lam=0.25, tau2=1.0, student_relation="intra")
    assert out["kd_loss"].item() == pytest.approx(0.25)
    assert out["kd_v_loss"].item() == pytest.approx(0.25)  # |0 - 0.25|
    assert out["kd_t_loss"].item() == pytest.approx(0.75)  # |1 - 0.25|


@pytest.mark.parametrize("distance", ["mae", "mse", "kl"])
@pytest.mark.parametrize("relation", ["pair", "intra", "inter", "all"])
def test_structure_matches_numpy(feats, relation, distance):
    v, t, a, b = feats
    out = structure_loss(*map(torch.tensor, (v, t, a, b)), lam=torch.tensor(0.3), tau2=0.2,
                         student_relation=relation, distance=distance)
    ref = np_structure(v, t, a, b, 0.3, 0.2, relation, distance)
    assert set(out) == set(ref)
    for k in ref:
        assert out[k].item() == pytest.approx(ref[k], rel=1e-9), k


@pytest.mark.parametrize("distance", ["mae", "kl"])
def test_center_teachers(feats, distance):
    v, t, a, b = feats
    out = structure_loss(*map(torch.tensor, (v, t, a, b)), lam=0.6, tau2=0.5, distance=distance,
                         center_teachers=True)
    ref = np_structure(v, t, a, b, 0.6, 0.5, "all", distance, center=True)
    plain = np_structure(v, t, a, b, 0.6, 0.5, "all", distance)
    assert out["kd_loss"].item() == pytest.approx(ref["kd_loss"], rel=1e-9)
    assert abs(ref["kd_loss"] - plain["kd_loss"]) > 1e-3  # a offset by +1 makes centring matter


def test_kl_is_zero_on_equal_rows_and_shift_invariant():
    x = torch.randn(4, 4)
    assert relation_distance(x, x, "kl").item() == pytest.approx(0.0, abs=1e-12)
    # softmax per row ignores a per-row shift (the diagonal is excluded, so it may be anything)
    y = x + torch.arange(4.0)[:, None]
    y.diagonal().fill_(100.0)
    assert relation_distance(x, y, "kl").item() == pytest.approx(0.0, abs=1e-12)


def grads_of(term, relation="all", distance="mae", lambda_param="sigmoid"):
    torch.manual_seed(1)
    v, t = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    a, b = torch.randn(6, 5, requires_grad=True), torch.randn(6, 3, requires_grad=True)
    fusion = TeacherFusion(lambda_param, init_lambda=0.4, tau2=0.1, learn_tau2=True)
    out = structure_loss(v, t, a, b, lam=fusion.lam, tau2=fusion.tau2, student_relation=relation,
                         distance=distance)
    out[term].backward()
    g = lambda x: None if x.grad is None else x.grad.abs().sum().item()
    return {"v": g(v), "t": g(t), "a": g(a), "b": g(b),
            "lam": g(fusion.lambda_weight), "tau2": g(fusion.log_tau2)}


@pytest.mark.parametrize("distance", ["mae", "mse", "kl"])
def test_gradient_routing(distance):
    kd = grads_of("kd_loss", distance=distance)
    assert kd["v"] > 0 and kd["t"] > 0 and kd["lam"] > 0 and kd["tau2"] > 0  # student, λ, τ2
    assert kd["a"] is None and kd["b"] is None  # frozen teachers
    for term in ("kd_v_loss", "kd_t_loss"):
        g = grads_of(term, distance=distance)
        assert g["v"] is None and g["t"] is None and g["a"] is None and g["b"] is None
        assert g["lam"] > 0
        assert g["tau2"] > 0 or distance == "kl"  # a KL of row-softmaxes still depends on τ2


def test_mae_teacher_terms_sum_is_flat_in_lambda():
    # for λ in [0, 1], |R_v - E| + |R_t - E| = |R_v - R_t|: the sum gives λ no gradient under MAE
    torch.manual_seed(2)
    a, b = torch.randn(6, 5), torch.randn(6, 3)
    v = torch.randn(6, 4)
    lam = torch.tensor(0.3, requires_grad=True)
    out = structure_loss(v, v, a, b, lam=lam, tau2=0.1)
    (out["kd_v_loss"] + out["kd_t_loss"]).backward()
    assert lam.grad.item() == pytest.approx(0.0, abs=1e-9)
    lam.grad = None
    out = structure_loss(v, v, a, b, lam=lam, tau2=0.1, distance="mse")  # MSE pulls λ toward 1/2
    (out["kd_v_loss"] + out["kd_t_loss"]).backward()
    assert lam.grad.item() < 0


def test_bad_inputs(feats):
    v, t, a, b = map(torch.tensor, feats)
    with pytest.raises(ValueError, match="student_relation"):
        structure_loss(v, t, a, b, lam=0.5, tau2=0.1, student_relation="cross")
    with pytest.raises(ValueError, match="distance"):
        structure_loss(v, t, a, b, lam=0.5, tau2=0.1, distance="l3")
    with pytest.raises(ValueError, match="teacher"):
        structure_loss(v, t, a[:3], b, lam=0.5, tau2=0.1)
    with pytest.raises(ValueError, match="at least 2"):
        structure_loss(v[:1], t[:1], a[:1], b[:1], lam=0.5, tau2=0.1)


@pytest.mark.parametrize("distance", ["mae", "mse", "kl"])
@pytest.mark.parametrize("relation", ["pair", "intra", "inter", "all"])
def test_gradients_match_finite_differences(relation, distance):
    torch.manual_seed(3)
    v, t = torch.randn(5, 3, requires_grad=True), torch.randn(5, 3, requires_grad=True)
    a, b = torch.randn(5, 4), torch.randn(5, 2)
    lam, tau2 = torch.tensor(0.35, requires_grad=True), torch.tensor(0.3, requires_grad=True)

    def f(v, t, lam, tau2):
        out = structure_loss(v, t, a, b, lam=lam, tau2=tau2, student_relation=relation, distance=distance)
        return out["kd_loss"] + 0.7 * out["kd_v_loss"] + 1.3 * out["kd_t_loss"]

    assert torch.autograd.gradcheck(f, (v, t, lam, tau2))


@pytest.mark.parametrize("distance", ["mae", "kl"])
def test_lambda_objective_follows_the_student_not_the_teachers(feats, distance):
    """A student that copies the text teacher drives a learned λ to the text teacher (λ → 1) and one that copies
    the vision teacher drives it to 0, whatever the teachers are worth: the λ landscape only sees the student."""
    _, _, a, b = (torch.as_tensor(x) for x in feats)
    grid = torch.linspace(0.0, 1.0, 11)
    for copy, best in ((b, 1.0), (a, 0.0)):
        obj = lambda_objective(copy, copy, a, b, grid, tau2=0.1, weights={"kd_loss": 1.0}, student_relation="intra",
                               distance=distance)
        assert grid[int(obj.argmin())].item() == pytest.approx(best)
    # the objective is the weighted sum of structure_loss's terms at each λ
    w = {"kd_loss": 0.2, "kd_v_loss": 1.0, "kd_t_loss": 0.5}
    v, t = (torch.as_tensor(x) for x in feats[:2])
    obj = lambda_objective(v, t, a, b, [0.3], tau2=0.1, weights=w, distance=distance)
    terms = structure_loss(v, t, a, b, lam=0.3, tau2=0.1, distance=distance)
    assert obj[0].item() == pytest.approx(sum(w[k] * terms[k].item() for k in w))
