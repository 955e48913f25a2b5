"""The DCMQ objective: distil a target similarity into the search scores of product-quantised codes.

DCMQ (Distilling vision-language pretraining for efficient cross-modal retrieval, arXiv 2405.14726) replaces the
multi-hot label similarity of supervised hashing with a teacher's similarities (the NPC target,
:func:`vlr_viz.losses.npc.npc_target`). The paper names its parts only; docs/codes.md gives our reading and
the measurements behind each choice.

For a batch of ``B`` pairs (caption ``i`` and its image) with float student embeddings ``v_i`` (image) and ``t_i``
(text), their quantised vectors ``q(v_i)``, ``q(t_i)`` and a target ``T`` ``(B, B)`` in ``[-1, 1]``, the scores
that asymmetric search ranks by are ``S_i2t = v q(t)ᵀ`` (float image query, coded captions) and
``S_t2i = t q(v)ᵀ``::

    distill_loss = ½ Σ_{S ∈ {S_i2t, S_t2i}} mean_i KL( softmax(T_i / τ_T) ‖ softmax(S_i / τ_S) )
    pair_loss    = ½ [ CE_soft(S_i2t / τ_S, Y) + CE_soft(S_t2i / τ_S, Y) ],  Y_ij = 1[img_i = img_j] / n_pos(i)
    balance_loss = 1 - H̄,  H̄ = mean over sub-codebooks of the normalised entropy of the mean assignment
                   (images and captions together; :func:`vlr_viz.models.quantizer.balance_entropy`)
    loss         = w_distill · distill_loss + w_pair · pair_loss + w_balance · balance_loss

The distillation term matches the ranking the target implies, row by row (a listwise loss: the scale of the
scores is free, only their order and relative gaps count); the pair term is the paired consistency of NPC made
explicit: each caption's own image (and each image's own caption) must come first, which is what instance-level
retrieval measures. Every input may carry leading batch dimensions (one per run trained together); every term
then has that shape, and the runs' losses are summed by the caller.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from . import DCMQ_TERMS as TERMS
from .targets import positive_targets


def _soft_cross_entropy_rows(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``-mean_i Σ_j Y_ij log softmax_j(logits_i)`` over the last two dimensions: shape ``logits.shape[:-2]``."""
    return -(targets * torch.log_softmax(logits, dim=-1)).sum(-1).mean(-1)


def _kl_rows(target_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """``mean_i KL(softmax(target_i) ‖ softmax(student_i))``: shape ``logits.shape[:-2]``."""
    p_log = torch.log_softmax(target_logits, dim=-1)
    return (p_log.exp() * (p_log - torch.log_softmax(student_logits, dim=-1))).sum(-1).mean(-1)


def _normalised_entropy(probabilities) -> torch.Tensor:
    """``mean_m H(mean_b p[..., b, m, :]) / log K`` over the rows of every ``(..., B_i, M, K)`` tensor of
    ``probabilities`` together: shape ``(...)``."""
    rows = sum(p.shape[-3] for p in probabilities)
    mean = sum(p.sum(-3) for p in probabilities) / rows
    ent = -(mean * torch.log(mean.clamp_min(1e-12))).sum(-1)
    return (ent / math.log(mean.shape[-1])).mean(-1)


def dcmq_loss(image_embedding: torch.Tensor, text_embedding: torch.Tensor, image_quantized: torch.Tensor,
              text_quantized: torch.Tensor, target: torch.Tensor, img_id: torch.Tensor,
              assignment_probabilities: Sequence[torch.Tensor], *, target_temperature: float = 0.05,
              student_temperature: float = 0.1, weights: dict | None = None) -> dict[str, torch.Tensor]:
    """Named terms of the DCMQ objective (module docstring) and their weighted sum ``"loss"``.

    Args:
        image_embedding, text_embedding: ``(..., B, D)`` float student embeddings of the batch's images and
            captions (row ``i``: caption ``i`` and its image).
        image_quantized, text_quantized: ``(..., B, D)`` their quantised vectors (straight-through).
        target: ``(..., B, B)`` target similarity (NPC of the teacher, or the label similarity).
        img_id: ``(..., B)`` image id of each row (captions of one image are all positives).
        assignment_probabilities: noise-free codeword probabilities ``(..., B, M, K)`` of the images and of the
            captions (a sequence; their rows are pooled).
        target_temperature, student_temperature: ``τ_T`` and ``τ_S``.
        weights: ``{"distill_loss": w, "pair_loss": w, "balance_loss": w}`` (missing terms weigh 0).
    Returns:
        ``{"distill_loss", "pair_loss", "balance_loss", "balance_entropy", "loss"}``, each of shape ``(...)``.

    Example: identical float and quantised embeddings of two orthogonal pairs with a target that agrees give a
    pair loss of ``log(1 + e^{-1/τ_S})``.
    """
    if not (target_temperature > 0 and student_temperature > 0):
        raise ValueError(f"temperatures must be > 0, got target {target_temperature}, student {student_temperature}")
    weights = {"distill_loss": 2.0, "pair_loss": 1.0, "balance_loss": 0.1} if weights is None else weights
    unknown = set(weights) - set(TERMS)
    if unknown:
        raise ValueError(f"weights: unknown term(s) {sorted(unknown)}; known: {list(TERMS)}")
    s_i2t = image_embedding @ text_quantized.transpose(-1, -2) / student_temperature
    s_t2i = text_embedding @ image_quantized.transpose(-1, -2) / student_temperature
    if target.shape != s_i2t.shape:
        raise ValueError(f"target has shape {tuple(target.shape)}, the scores {tuple(s_i2t.shape)}")
    t = target.to(s_i2t) / target_temperature
    y = positive_targets(img_id).to(s_i2t)
    entropy = _normalised_entropy(assignment_probabilities)
    terms = {"distill_loss": (_kl_rows(t, s_i2t) + _kl_rows(t.transpose(-1, -2), s_t2i)) / 2,
             "pair_loss": (_soft_cross_entropy_rows(s_i2t, y) + _soft_cross_entropy_rows(s_t2i, y)) / 2,
             "balance_loss": 1 - entropy}
    terms["loss"] = sum(float(weights.get(k, 0.0)) * terms[k] for k in TERMS)
    terms["balance_entropy"] = entropy
    return terms


__all__ = ["TERMS", "dcmq_loss"]
