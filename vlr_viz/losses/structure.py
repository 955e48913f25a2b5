"""Structure-aware (relational) distillation from two modal-independent teachers (Yang et al., TIP 2024).

Relations are scaled cosines on the off-diagonal entries of a batch (``i ≠ j``)::

    R_v = a·aᵀ/τ2,  R_t = b·bᵀ/τ2                 teacher relations (no softmax)
    E   = λ R_t + (1 - λ) R_v                     fused teacher relation (λ = weight of the text teacher)
    S   = student relation (see `STUDENT_RELATIONS`), L_kd = d(S, E)
    L_kd_v = d(R_v, E),  L_kd_t = d(R_t, E)

Gradient routing (as in the authors' code, where the student term compares S with the undetached E):
``kd_loss`` moves the student embeddings, λ and τ2; ``kd_v_loss`` and ``kd_t_loss`` move only λ and τ2;
the teacher features never receive gradient. With MAE and λ in [0, 1], ``kd_v_loss + kd_t_loss =
mean|R_v - R_t|`` does not depend on λ, so λ is then driven by ``kd_loss`` alone (toward the student).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import DISTANCES, STUDENT_RELATIONS
from .targets import check_pair_batch


def off_diagonal(x: torch.Tensor) -> torch.Tensor:
    """The ``B(B-1)`` off-diagonal entries of a square ``(B, B)`` matrix as ``(B, B-1)``, row order kept."""
    n = x.shape[0]
    return x.flatten()[1:].view(n - 1, n + 1)[:, :-1].reshape(n, n - 1)


def relation_distance(student: torch.Tensor, target: torch.Tensor, distance: str = "mae") -> torch.Tensor:
    """``d(X, Y)`` averaged over the off-diagonal entries of two ``(B, B)`` relations.

    ``"mae"``: mean |X - Y|; ``"mse"``: mean (X - Y)²; ``"kl"``: mean over rows i of
    ``KL(softmax_{j≠i}(Y_i·) || softmax_{j≠i}(X_i·))`` (target Y, student X; softmax over the row without its
    diagonal entry; no τ² factor).
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    n = student.shape[0]
    if distance in ("mae", "mse"):  # all entries minus the diagonal's: no off-diagonal copies
        diff, diag = student - target, student.diagonal() - target.diagonal()
        if distance == "mae":
            return (diff.abs().sum() - diag.abs().sum()) / (n * (n - 1))
        return (diff.square().sum() - diag.square().sum()) / (n * (n - 1))
    x, y = off_diagonal(student), off_diagonal(target)
    return F.kl_div(torch.log_softmax(x, dim=1), torch.log_softmax(y, dim=1), log_target=True,
                    reduction="batchmean")


class _PairGram(torch.autograd.Function):
    """``(v·vᵀ, v·tᵀ, t·tᵀ)`` with a backward of two products instead of autograd's four.

    ``∂v = (G_vv + G_vvᵀ)·v + G_vt·t`` and ``∂t = (G_tt + G_ttᵀ)·t + G_vtᵀ·v``, each one ``B × 2B × D`` product.
    """

    @staticmethod
    def forward(ctx, v, t):
        ctx.save_for_backward(v, t)
        return v @ v.T, v @ t.T, t @ t.T

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_vv, g_vt, g_tt):
        v, t = ctx.saved_tensors
        n = v.shape[0]
        zero = v.new_zeros(n, n)
        g_vv, g_vt, g_tt = (zero if g is None else g for g in (g_vv, g_vt, g_tt))
        both = torch.cat([v, t])
        grad_v = torch.cat([g_vv + g_vv.T, g_vt], dim=1) @ both if ctx.needs_input_grad[0] else None
        grad_t = torch.cat([g_vt.T, g_tt + g_tt.T], dim=1) @ both if ctx.needs_input_grad[1] else None
        return grad_v, grad_t


def teacher_relations(a: torch.Tensor, b: torch.Tensor, lam, tau2, center: bool = False):
    """``(R_v, R_t, E)`` from frozen teacher features (detached, optionally centred over the batch, normalised)."""
    a, b = a.detach(), b.detach()
    if center:
        a, b = a - a.mean(dim=0), b - b.mean(dim=0)
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    r_v = (a @ a.T) / tau2
    r_t = (b @ b.T) / tau2
    return r_v, r_t, lam * r_t + (1 - lam) * r_v


def student_relations(v: torch.Tensor, t: torch.Tensor, tau2, which=("pair", "intra", "inter")) -> dict:
    """Student relations ``{"S_pair", "S_v", "S_t", "S_vt"}`` (subset by ``which``), each ``(B, B)`` over τ2.

    ``S_pair = f·fᵀ/τ2`` with ``f = norm(v + t)``; ``S_v = v·vᵀ/τ2``; ``S_t = t·tᵀ/τ2``; ``S_vt = v·tᵀ/τ2``.
    All four come from the three products ``v·vᵀ, v·tᵀ, t·tᵀ``: for unit rows ``f_i·f_j = (v_i·v_j + v_i·t_j +
    t_i·v_j + t_i·t_j) / (n_i n_j)`` with ``n_i = |v_i + t_i| = sqrt(2 + 2 v_i·t_i)``.
    """
    v, t = F.normalize(v, dim=-1), F.normalize(t, dim=-1)
    vv, vt, tt = _PairGram.apply(v, t)
    out = {}
    if "pair" in which:
        norm = (2.0 + 2.0 * vt.diagonal()).clamp_min(1e-12).sqrt()
        out["S_pair"] = (vv + tt + vt + vt.T) / (norm[:, None] * norm[None, :] * tau2)
    if "intra" in which:
        out["S_v"] = vv / tau2
        out["S_t"] = tt / tau2
    if "inter" in which:
        out["S_vt"] = vt / tau2
    return out


def structure_loss(v: torch.Tensor, t: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *, lam, tau2,
                   student_relation: str = "all", distance: str = "mae",
                   center_teachers: bool = False) -> dict[str, torch.Tensor]:
    """Structure-aware distillation terms ``{"kd_loss", "kd_v_loss", "kd_t_loss"}`` (module docstring).

    Args:
        v, t: ``(B, D)`` student image / text embeddings of the batch pairs (normalised here).
        a, b: ``(B, Da)``, ``(B, Db)`` vision / text teacher features of the same pairs (detached, normalised).
        lam: λ, weight of the text-teacher relation in E (tensor to learn it).
        tau2: relation temperature τ2 (> 0; the loss scales as 1/τ2).
        student_relation: ``"pair"``: d(S_pair, E); ``"intra"``: mean of d(S_v, E) and d(S_t, E);
            ``"inter"``: d(S_vt, E); ``"all"``: mean of the pair, intra and inter losses.
        distance: ``"mae"`` (paper), ``"mse"`` or ``"kl"``; see `relation_distance`.
        center_teachers: subtract the batch mean of each teacher's features before normalising (removes the
            common offset of all cosines, e.g. of pooled non-negative CNN features).
    """
    check_pair_batch(v, t)
    if student_relation not in STUDENT_RELATIONS:
        raise ValueError(f"student_relation must be one of {STUDENT_RELATIONS}, got {student_relation!r}")
    if a.shape[0] != v.shape[0] or b.shape[0] != v.shape[0]:
        raise ValueError(f"teacher features need {v.shape[0]} rows; got a {tuple(a.shape)}, b {tuple(b.shape)}")
    if v.shape[0] < 2:
        raise ValueError("structure_loss needs a batch of at least 2 pairs (relations are off-diagonal)")
    r_v, r_t, e = teacher_relations(a, b, lam, tau2, center_teachers)
    which = ("pair", "intra", "inter") if student_relation == "all" else (student_relation,)
    s = student_relations(v, t, tau2, which)
    d = lambda x: relation_distance(x, e, distance)
    parts = []
    if "pair" in which:
        parts.append(d(s["S_pair"]))
    if "intra" in which:
        parts.append(0.5 * (d(s["S_v"]) + d(s["S_t"])))
    if "inter" in which:
        parts.append(d(s["S_vt"]))
    if distance == "kl":
        kd_v, kd_t = relation_distance(r_v, e, distance), relation_distance(r_t, e, distance)
    else:  # R_v - E = λ (R_v - R_t) and R_t - E = (1 - λ)(R_t - R_v): one pass over the gap, exact
        gap = relation_distance(r_v, r_t, distance)
        scale = (lambda w: w.abs()) if distance == "mae" else (lambda w: w.square())
        lam_t = torch.as_tensor(lam, dtype=gap.dtype, device=gap.device)
        kd_v, kd_t = scale(lam_t) * gap, scale(1 - lam_t) * gap
    return {"kd_loss": sum(parts) / len(parts), "kd_v_loss": kd_v, "kd_t_loss": kd_t}


@torch.no_grad()
def lambda_objective(v: torch.Tensor, t: torch.Tensor, a: torch.Tensor, b: torch.Tensor, lambdas, *, tau2,
                     weights: dict, student_relation: str = "all", distance: str = "mae",
                     center_teachers: bool = False) -> torch.Tensor:
    """The part of the weighted training loss that λ can change, ``w_kd·kd + w_kd_v·kd_v + w_kd_t·kd_t``, on one
    batch for each λ of ``lambdas`` (no gradient): the landscape a learned λ descends.

    It explains why a λ learned this way carries no information about the teachers: ``kd`` is smallest where the
    fused relation E matches the *student's* relations, and ``kd_v + kd_t`` only measures how far E is from each
    teacher (constant for MAE with λ in [0, 1], smallest between the two for KL), so nothing in it measures which
    teacher is reliable. Arguments as in `structure_loss`; ``weights`` holds the three terms' weights.
    """
    out = []
    for lam in lambdas:
        terms = structure_loss(v, t, a, b, lam=float(lam), tau2=tau2, student_relation=student_relation,
                               distance=distance, center_teachers=center_teachers)
        out.append(sum(float(weights.get(k, 0.0)) * terms[k] for k in ("kd_loss", "kd_v_loss", "kd_t_loss")))
    return torch.stack([torch.as_tensor(x, dtype=torch.float64) for x in out])
