"""Representation-level distillation (Yang et al., TIP 2024): one-way InfoNCE from student to projected teacher."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .targets import check_pair_batch, positive_targets, soft_cross_entropy


def representation_loss(v: torch.Tensor, t: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                        img_id: torch.Tensor, *, proj_v: Callable[[torch.Tensor], torch.Tensor],
                        proj_t: Callable[[torch.Tensor], torch.Tensor],
                        logit_scale: torch.Tensor | float) -> dict[str, torch.Tensor]:
    """``L_rep_img = CE_soft(v·norm(P_v a)ᵀ/τ, Y)``, ``L_rep_txt = CE_soft(t·norm(P_t b)ᵀ/τ, Y)`` (one-way).

    Args:
        v, t: ``(B, D)`` student image / text embeddings (normalised here).
        a, b: ``(B, Da)`` / ``(B, Db)`` frozen vision / text teacher features; detached (no gradient).
        img_id: ``(B,)`` image id of each row (targets ``Y`` as in `matching_loss`).
        proj_v, proj_t: trainable maps ``P`` from teacher dim to D (``nn.Linear``).
        logit_scale: ``1/τ`` shared with the matching loss.

    Returns:
        ``{"rep_img_loss": scalar, "rep_txt_loss": scalar}``.
    """
    check_pair_batch(v, t, img_id)
    if a.shape[0] != v.shape[0] or b.shape[0] != v.shape[0]:
        raise ValueError(f"teacher features need {v.shape[0]} rows; got a {tuple(a.shape)}, b {tuple(b.shape)}")
    y = positive_targets(img_id)
    pa = F.normalize(proj_v(a.detach()), dim=-1)
    pb = F.normalize(proj_t(b.detach()), dim=-1)
    v, t = F.normalize(v, dim=-1), F.normalize(t, dim=-1)
    return {
        "rep_img_loss": soft_cross_entropy(logit_scale * (v @ pa.T), y),
        "rep_txt_loss": soft_cross_entropy(logit_scale * (t @ pb.T), y),
    }
