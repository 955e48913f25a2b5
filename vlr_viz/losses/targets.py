"""Positive targets and the soft-target cross-entropy shared by the InfoNCE-style losses."""
from __future__ import annotations

import torch


def positive_targets(img_id: torch.Tensor) -> torch.Tensor:
    """``Y[i, j] = 1[img_id_i == img_id_j] / n_pos(i)``: every caption of the same image is a positive.

    Args:
        img_id: ``(B,)`` integer image id of each pair of the batch (or ``(..., B)``: one batch per leading index).

    Returns:
        ``(B, B)`` (``(..., B, B)``) float row-stochastic target matrix.
    """
    if img_id.ndim < 1:
        raise ValueError(f"img_id must be 1-D (B,), got shape {tuple(img_id.shape)}")
    if img_id.dtype.is_floating_point or img_id.dtype == torch.bool:
        raise TypeError(f"img_id must hold integers, got {img_id.dtype}")
    same = (img_id[..., :, None] == img_id[..., None, :]).float()
    return same / same.sum(dim=-1, keepdim=True)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``CE_soft(logits, Y) = -mean_i Σ_j Y_ij log softmax_j(logits_i)``."""
    return -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def check_pair_batch(v: torch.Tensor, t: torch.Tensor, img_id: torch.Tensor | None = None) -> None:
    """Raise ``ValueError`` unless ``v`` and ``t`` are ``(B, D)`` alike and ``img_id`` is ``(B,)``."""
    if v.ndim != 2 or v.shape != t.shape:
        raise ValueError(f"v and t must both be (B, D); got {tuple(v.shape)} and {tuple(t.shape)}")
    if img_id is not None and tuple(img_id.shape) != (v.shape[0],):
        raise ValueError(f"img_id must have shape ({v.shape[0]},), got {tuple(img_id.shape)}")
