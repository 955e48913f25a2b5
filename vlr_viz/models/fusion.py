"""Learnable scalars of the objectives: the matching temperature τ and the teacher fusion (λ, τ2).

* `LogitScale`: ``1/τ`` of the matching and representation losses, stored as ``log(1/τ)`` (as open_clip does),
  init ``τ = 0.07``, clamped to ``1/τ <= max_scale``.
* `TeacherFusion`: the fused teacher relation of the structure-aware distillation (Yang et al., TIP 2024)
  ``E = λ R_t + (1 - λ) R_v`` with ``R = feat·featᵀ / τ2``. λ is the weight of the *text* teacher.
* `reliability_lambda`: a λ fixed from how well each teacher singles out the paired item of the other modality
  on training data (vlr_viz's addition, see its docstring).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from vlr_viz.arrays import caption_sum_per_image, l2_normalize
from vlr_viz.models import LAMBDA_PARAMS


class LogitScale(nn.Module):
    """``1/τ`` as ``exp(clamp(s, 0, log max_scale))`` with parameter ``s = log(1/τ)``.

    Args:
        init_tau: initial temperature τ (> 0); the paper and CLIP use 0.07.
        learnable: whether ``s`` is trained.
        max_scale: upper bound on ``1/τ`` (CLIP: 100).
    """

    def __init__(self, init_tau: float = 0.07, learnable: bool = True, max_scale: float = 100.0):
        super().__init__()
        if not init_tau > 0:
            raise ValueError(f"init_tau must be > 0, got {init_tau}")
        if not 1.0 / init_tau <= max_scale:
            raise ValueError(f"init_tau={init_tau} gives 1/tau above max_scale={max_scale}")
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_tau)), requires_grad=learnable)
        self.max_log = math.log(max_scale)

    def forward(self) -> torch.Tensor:
        return self.log_scale.clamp(0.0, self.max_log).exp()

    @property
    def tau(self) -> torch.Tensor:
        return 1.0 / self.forward()


class TeacherFusion(nn.Module):
    """λ and τ2 of the fused teacher relation ``E = λ R_t + (1 - λ) R_v``, ``R_v = a·aᵀ/τ2``, ``R_t = b·bᵀ/τ2``.

    Args:
        lambda_param: how λ is stored.
            ``"raw"``: λ itself, unconstrained while training (the authors' code);
            ``"sigmoid"``: ``λ = sigmoid(w)`` (default, keeps λ in (0, 1));
            ``"softmax"``: two logits ``(w_v, w_t)``, ``λ = softmax(w_v, w_t)[1]`` (weights of both teachers).
        init_lambda: initial λ. ``"raw"`` needs it in [0, 1]; the others in the open interval (0, 1).
        tau2: relation temperature τ2 (> 0), stored as ``log τ2``.
        learn_lambda: whether λ is trained (false for ``lambda_mode="fixed"`` or ``"reliability"``).
        learn_tau2: whether τ2 is trained. Off by default: every MAE term shrinks as τ2 grows, so a learnable τ2
            drifts upward and silently weakens the structure loss.
    """

    def __init__(self, lambda_param: str = "sigmoid", init_lambda: float = 0.5, tau2: float = 0.07,
                 learn_lambda: bool = True, learn_tau2: bool = False):
        super().__init__()
        if lambda_param not in LAMBDA_PARAMS:
            raise ValueError(f"lambda_param must be one of {LAMBDA_PARAMS}, got {lambda_param!r}")
        init_lambda = float(init_lambda)
        if lambda_param == "raw" and not 0.0 <= init_lambda <= 1.0:
            raise ValueError(f"init_lambda must lie in [0, 1] for lambda_param='raw', got {init_lambda}")
        if lambda_param != "raw" and not 0.0 < init_lambda < 1.0:
            raise ValueError(f"init_lambda must lie in (0, 1) for lambda_param={lambda_param!r}, got {init_lambda}")
        if not tau2 > 0:
            raise ValueError(f"tau2 must be > 0, got {tau2}")
        self.lambda_param = lambda_param
        if lambda_param == "raw":
            w = torch.tensor(init_lambda)
        elif lambda_param == "sigmoid":
            w = torch.tensor(math.log(init_lambda / (1.0 - init_lambda)))
        else:
            w = torch.tensor([math.log(1.0 - init_lambda), math.log(init_lambda)])
        self.lambda_weight = nn.Parameter(w, requires_grad=learn_lambda)
        self.log_tau2 = nn.Parameter(torch.tensor(math.log(tau2)), requires_grad=learn_tau2)

    @property
    def lam(self) -> torch.Tensor:
        """Effective weight of the text teacher (in (0, 1) unless ``lambda_param="raw"``)."""
        w = self.lambda_weight
        if self.lambda_param == "raw":
            return w
        if self.lambda_param == "sigmoid":
            return torch.sigmoid(w)
        return torch.softmax(w, dim=0)[1]

    @property
    def tau2(self) -> torch.Tensor:
        return self.log_tau2.exp()

    def extra_repr(self) -> str:
        return (f"lambda_param={self.lambda_param!r}, lam={self.lam.item():.4f}, tau2={self.tau2.item():.4f}, "
                f"learn_lambda={self.lambda_weight.requires_grad}, learn_tau2={self.log_tau2.requires_grad}")


def _pair_retrieval_score(x: np.ndarray, y: np.ndarray, ridge: float, folds: np.ndarray) -> float:
    """Chance-corrected rank of the paired item when a ridge map ``x → y`` fitted on the other fold retrieves it.

    For each held-out item, ``ŷ = x W`` is compared by cosine with every held-out ``y``; ``r`` is the number of
    items ranked above the true pair (ties count half), ``q = r / (n_fold - 1)``. Returns ``1 - 2·mean q``
    (1: always first, 0: chance).
    """
    qs = []
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        mx, my = x[tr].mean(0), y[tr].mean(0)
        xt, yt = x[tr] - mx, y[tr] - my
        w = np.linalg.solve(xt.T @ xt + ridge * np.eye(x.shape[1]), xt.T @ yt)
        pred = l2_normalize((x[te] - mx) @ w)
        sim = pred @ l2_normalize(y[te] - my).T
        true = np.diag(sim)[:, None]
        above = (sim > true).sum(1) + 0.5 * ((sim == true).sum(1) - 1)
        qs.append(above / (te.sum() - 1))
    return float(1.0 - 2.0 * np.concatenate(qs).mean())


def _category_score(x: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Chance-corrected share of same-category items among each item's ``k`` nearest neighbours (self excluded)."""
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    knn = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    precision = (labels[knn] == labels[:, None]).mean()
    p = np.bincount(labels) / labels.size
    chance = float((p ** 2).sum())
    return float((precision - chance) / (1.0 - chance)) if chance < 1 else 0.0


def reliability_lambda(a, b, txt_to_img, reference: str = "pairs", labels=None, k: int = 10, ridge: float = 1.0,
                       max_items: int = 4000, seed: int = 0) -> tuple[float, dict]:
    """λ from each teacher's reliability on training data (vlr_viz's definition): ``λ_rel = rel_t / (rel_v + rel_t)``.

    ``reference="pairs"`` (category-free): how well each teacher identifies the paired item of the other modality.

    Items are the images; the text-teacher feature of an image is the normalised mean of its captions'
    normalised features. The items are split into two seeded folds; for teacher X and the other teacher Y a
    ridge map ``X → Y`` (centred unit features, penalty ``ridge``) is fitted on one fold and used on the other
    to rank all held-out Y rows by cosine to the prediction; ``q`` is the normalised rank of the true pair::

        rel_X = max(1 - 2·mean q, 0)          (1: the pair always comes first, 0: chance)
        λ_rel = rel_t / (rel_v + rel_t)       (0.5 when both are 0)

    A teacher whose features lost information (noise, dropped or replaced words, coarse captions) predicts the
    other modality poorly, so its ``rel`` falls more than the other's, whose neighbourhoods still single out
    the pair. On Twemoji the measure moves λ the right way for every caption degradation and for image-feature
    noise, but the contrast is small (λ between about 0.4 and 0.55); report ``rel_v`` and ``rel_t`` with it.

    It cannot single out a teacher that collapses items (coarse captions: the pair is then hidden among ties for
    both directions) or mismatched pairs (both directions fail alike).

    ``reference="labels"`` (modality-neutral, needs image ``labels``): ``rel_X`` is the chance-corrected share of
    same-category items among each image's ``k`` nearest neighbours under teacher X,
    ``(precision - Σ_c p_c²) / (1 - Σ_c p_c²)`` (images with label -1 left out). It catches noise and mismatch
    strongly, and rewards coarse captions, which keep exactly the category.

    Args:
        a: vision-teacher features ``(N, Da)``.
        b: text-teacher features ``(M, Db)``.
        txt_to_img: ``(M,)`` image of each caption (every image needs one).
        reference: ``"pairs"`` or ``"labels"``.
        labels: ``(N,)`` category per image, for ``reference="labels"``.
        k: neighbourhood size of ``reference="labels"``.
        ridge: ridge penalty of the linear maps of ``reference="pairs"``.
        max_items: at most this many images (a seeded random subset) enter the computation.
        seed: seed of the folds and of that subset.

    Returns:
        ``(lam, {"rel_v": ..., "rel_t": ..., "n_items": n, "reference": reference})``.
    """
    if reference not in ("pairs", "labels"):
        raise ValueError(f"reference must be 'pairs' or 'labels', got {reference!r}")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    txt_to_img = np.asarray(txt_to_img, dtype=np.int64)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"a and b must be 2-D, got shapes {a.shape} and {b.shape}")
    if txt_to_img.shape != (b.shape[0],):
        raise ValueError(f"txt_to_img must have one entry per row of b ({b.shape[0]}), got shape {txt_to_img.shape}")
    n = a.shape[0]
    if txt_to_img.size and (txt_to_img.min() < 0 or txt_to_img.max() >= n):
        raise ValueError(f"txt_to_img has entries outside [0, {n})")
    if n < 8 or np.bincount(txt_to_img, minlength=n).min() == 0:
        raise ValueError("reliability_lambda needs at least 8 images, each with at least one caption")
    if not ridge > 0:
        raise ValueError(f"ridge must be > 0, got {ridge}")
    a, bt = l2_normalize(a), l2_normalize(caption_sum_per_image(b, txt_to_img, n))
    rng = np.random.default_rng(seed)
    if reference == "labels":
        if labels is None:
            raise ValueError("reference='labels' needs the image labels")
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        known = labels >= 0
        a, bt, labels = a[known], bt[known], labels[known]
        n = labels.size
    if n > max_items:
        keep = np.sort(rng.choice(n, max_items, replace=False))
        a, bt, n = a[keep], bt[keep], max_items
        labels = labels[keep] if reference == "labels" else None
    if reference == "labels":
        if not 1 <= k < n:
            raise ValueError(f"k must lie in [1, {n - 1}], got {k}")
        rel_v, rel_t = (max(_category_score(x, labels, k), 0.0) for x in (a, bt))
    else:
        folds = rng.permutation(n) % 2
        rel_v = max(_pair_retrieval_score(a, bt, ridge, folds), 0.0)
        rel_t = max(_pair_retrieval_score(bt, a, ridge, folds), 0.0)
    lam = 0.5 if rel_v + rel_t == 0 else rel_t / (rel_v + rel_t)
    return lam, {"rel_v": rel_v, "rel_t": rel_t, "n_items": n, "reference": reference}
