"""Teacher fusion (λ, τ2 parameterisations), the matching temperature, and the reliability-driven λ."""
import math

import numpy as np
import pytest
import torch

from vlr_viz.models.fusion import LogitScale, TeacherFusion, reliability_lambda


@pytest.mark.parametrize("param", ["raw", "sigmoid", "softmax"])
@pytest.mark.parametrize("init", [0.2, 0.5, 0.9])
def test_fusion_initial_lambda(param, init):
    f = TeacherFusion(param, init_lambda=init, tau2=0.05)
    assert f.lam.item() == pytest.approx(init, rel=1e-6)
    assert f.tau2.item() == pytest.approx(0.05, rel=1e-6)
    assert f.lambda_weight.requires_grad and not f.log_tau2.requires_grad


def test_fusion_constrained_forms_stay_in_unit_interval():
    for param in ("sigmoid", "softmax"):
        f = TeacherFusion(param, init_lambda=0.5)
        with torch.no_grad():
            f.lambda_weight.add_(torch.tensor(50.0) if param == "sigmoid" else torch.tensor([-25.0, 25.0]))
        assert 0.0 <= f.lam.item() <= 1.0 and f.lam.item() > 0.99
    raw = TeacherFusion("raw", init_lambda=0.5)
    with torch.no_grad():
        raw.lambda_weight.fill_(1.7)
    assert raw.lam.item() == pytest.approx(1.7)  # the authors' raw λ is unconstrained


def test_softmax_lambda_is_softmax_of_two_logits():
    f = TeacherFusion("softmax", init_lambda=0.3)
    w_v, w_t = f.lambda_weight.tolist()
    assert f.lam.item() == pytest.approx(math.exp(w_t) / (math.exp(w_v) + math.exp(w_t)))


def test_fusion_validation():
    with pytest.raises(ValueError, match="init_lambda"):
        TeacherFusion("raw", init_lambda=1.2)
    with pytest.raises(ValueError, match="init_lambda"):
        TeacherFusion("sigmoid", init_lambda=1.0)
    TeacherFusion("raw", init_lambda=1.0)  # the closed interval is allowed for raw
    with pytest.raises(ValueError, match="lambda_param"):
        TeacherFusion("tanh")
    with pytest.raises(ValueError, match="tau2"):
        TeacherFusion(tau2=0.0)


def test_learnable_tau2_and_fixed_lambda():
    f = TeacherFusion(learn_lambda=False, learn_tau2=True, tau2=0.1)
    assert not f.lambda_weight.requires_grad and f.log_tau2.requires_grad
    (1.0 / f.tau2).backward()
    assert f.log_tau2.grad.item() == pytest.approx(-10.0, rel=1e-5)  # d/ds e^{-s} at s = log 0.1


def test_logit_scale():
    s = LogitScale(0.07)
    assert s().item() == pytest.approx(1 / 0.07, rel=1e-6)
    assert s.tau.item() == pytest.approx(0.07, rel=1e-6)
    with torch.no_grad():
        s.log_scale.fill_(10.0)
    assert s().item() == pytest.approx(100.0, rel=1e-6)  # clamped at max_scale
    with pytest.raises(ValueError, match="init_tau"):
        LogitScale(0.0)


def loop_pair_score(x, y, folds, ridge):
    """Independent oracle: ridge by augmented least squares, ranks by a loop over queries."""
    unit = lambda z: z / np.linalg.norm(z, axis=1, keepdims=True)
    qs = []
    for f in (0, 1):
        tr, te = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
        mx, my = x[tr].mean(0), y[tr].mean(0)
        aug_x = np.vstack([x[tr] - mx, math.sqrt(ridge) * np.eye(x.shape[1])])
        aug_y = np.vstack([y[tr] - my, np.zeros((x.shape[1], y.shape[1]))])
        w = np.linalg.lstsq(aug_x, aug_y, rcond=None)[0]
        for qi, i in enumerate(te):
            p = unit(((x[i] - mx) @ w)[None])[0]
            sims = [p @ unit((y[j] - my)[None])[0] for j in te]
            above = sum(s > sims[qi] + 1e-12 for s in sims) + 0.5 * sum(abs(s - sims[qi]) <= 1e-12 for s in sims[:qi] + sims[qi + 1:])
            qs.append(above / (len(te) - 1))
    return 1 - 2 * np.mean(qs)


def test_reliability_pairs_matches_loop_oracle():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(30, 3))
    a = z @ rng.normal(size=(3, 5)) + 0.3 * rng.normal(size=(30, 5))
    b = z @ rng.normal(size=(3, 4)) + 1.0 * rng.normal(size=(30, 4))
    lam, info = reliability_lambda(a, b, np.arange(30), ridge=0.5, seed=4)
    folds = np.random.default_rng(4).permutation(30) % 2
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)
    rel_v = max(loop_pair_score(unit(a), unit(b), folds, 0.5), 0)
    rel_t = max(loop_pair_score(unit(b), unit(a), folds, 0.5), 0)
    assert info["rel_v"] == pytest.approx(rel_v, abs=1e-9)
    assert info["rel_t"] == pytest.approx(rel_t, abs=1e-9)
    assert lam == pytest.approx(rel_t / (rel_v + rel_t))


def test_reliability_pairs_prefers_the_clean_teacher_and_swaps():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(300, 8))
    a = z @ rng.normal(size=(8, 16)) + 0.2 * rng.normal(size=(300, 16))
    b = z @ rng.normal(size=(8, 16)) + 3.0 * rng.normal(size=(300, 16))  # degraded text teacher
    lam, info = reliability_lambda(a, b, np.arange(300))
    assert info["rel_t"] < info["rel_v"] and lam < 0.5
    lam_swapped, _ = reliability_lambda(b, a, np.arange(300))
    assert lam_swapped == pytest.approx(1 - lam, abs=1e-12)


def test_reliability_text_is_mean_of_caption_features():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(20, 4)), rng.normal(size=(20, 3))
    # two identical captions per image: the same as one caption per image
    lam1, _ = reliability_lambda(a, b, np.arange(20))
    lam2, _ = reliability_lambda(a, np.repeat(b, 2, axis=0), np.repeat(np.arange(20), 2))
    assert lam1 == pytest.approx(lam2, abs=1e-12)


def test_reliability_labels_matches_loop():
    rng = np.random.default_rng(3)
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, -1])
    a = rng.normal(size=(10, 3)) + 4 * np.eye(3)[np.clip(labels, 0, 2)]
    b = rng.normal(size=(10, 3))
    k = 2
    lam, info = reliability_lambda(a, b, np.arange(10), reference="labels", labels=labels, k=k)

    def oracle(x):
        x = x[:9] / np.linalg.norm(x[:9], axis=1, keepdims=True)  # the unlabelled image is left out
        hits = []
        for i in range(9):
            order = [j for j in np.argsort(-(x @ x[i])) if j != i][:k]
            hits += [labels[j] == labels[i] for j in order]
        chance = 3 * (1 / 3) ** 2
        return max((np.mean(hits) - chance) / (1 - chance), 0)

    assert info["rel_v"] == pytest.approx(oracle(a)) and info["rel_t"] == pytest.approx(oracle(b))
    assert info["rel_v"] > 0.9 and lam < 0.5


def test_reliability_validation():
    a, b = np.zeros((10, 3)), np.zeros((10, 2))
    with pytest.raises(ValueError, match="txt_to_img"):
        reliability_lambda(a, b, np.arange(9))
    with pytest.raises(ValueError, match="at least one caption"):
        reliability_lambda(a, b, np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="reference"):
        reliability_lambda(a, b, np.arange(10), reference="oracle")
    with pytest.raises(ValueError, match="labels"):
        reliability_lambda(a, b, np.arange(10), reference="labels")
