"""Normalisation with paired consistency (NPC): the teacher target that DCMQ distils, and the label baseline's.

DCMQ (Distilling vision-language pretraining for efficient cross-modal retrieval, arXiv 2405.14726) turns the
teacher's image-image, text-text and image-text similarities of a batch of pairs into one discriminative target in
which a pair's score agrees across modality combinations. The paper's public text gives only the name; the
formula below is OUR reading of it (docs/codes.md).

For a batch of ``B`` pairs with teacher image features ``a_i`` and teacher text features ``b_i``
(``â = a/||a||``, ``b̂ = b/||b||``)::

    S_ii = â âᵀ,  S_tt = b̂ b̂ᵀ,  S_it = â b̂ᵀ,  S_ti = S_itᵀ
    S    = (S_ii + S_tt + S_it + S_ti) / 4                      # paired consistency: one score per pair (i, j)
    z_ij = (S_ij - μ_i) / (σ_i + ε),  μ_i, σ_i = mean, std of S_ij over j ≠ i   # row standardisation
    T'_ij = tanh(z_ij / temperature)  (j ≠ i),   T'_ii = 1                    # sharpen into [-1, 1]
    T    = (T' + T'ᵀ) / 2                                                    # symmetric target

Row standardisation removes each row's offset and spread (pooled CNN features make every raw cosine high), so
"similar" means "more similar than this item's typical neighbour"; a small temperature pushes the target towards
±1 like a label similarity, a large one keeps the teacher's graded structure.

Every function takes optional leading batch dimensions (``(..., B, D)`` → ``(..., B, B)``), so the batches of
several runs trained together (one per seed) get their targets in one call.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _as_features(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim < 2 or t.shape[-2] == 0:
        raise ValueError(f"{name} must have shape (..., B, D) with B >= 1, got {tuple(t.shape)}")
    return t.float() if not t.dtype.is_floating_point else t


def paired_similarity(image_features, text_features) -> torch.Tensor:
    """``S = (S_ii + S_tt + S_it + S_itᵀ) / 4`` of pairs ``(image_features[i], text_features[i])``:
    ``(..., B, B)``."""
    a = F.normalize(_as_features(image_features, "image_features"), dim=-1)
    b = F.normalize(_as_features(text_features, "text_features"), dim=-1)
    if a.shape[:-1] != b.shape[:-1]:
        raise ValueError(f"image_features has {tuple(a.shape[:-1])} rows but text_features has "
                         f"{tuple(b.shape[:-1])}: need B pairs")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"image_features (dim {a.shape[-1]}) and text_features (dim {b.shape[-1]}) must share one "
                         "space")
    s_it = a @ b.transpose(-1, -2)
    return (a @ a.transpose(-1, -2) + b @ b.transpose(-1, -2) + s_it + s_it.transpose(-1, -2)) / 4


def npc_target(image_features, text_features, temperature: float = 1.0, eps: float = 1e-6) -> torch.Tensor:
    """NPC target ``T`` ``(..., B, B)`` in ``[-1, 1]`` (formula in the module docstring; diagonal 1).

    Args:
        image_features: teacher image features ``(..., B, Da)`` of the ``B`` pairs (any scale; L2-normalised here).
        text_features: teacher text features ``(..., B, Da)`` of the same pairs, in the same space as the images
            (``S_it`` compares them directly).
        temperature: ``T`` in ``tanh(z / T)``; smaller gives a harder target.
        eps: added to the row standard deviation.

    Example: images ``(1,0), (.6,.8), (0,1)``, texts ``(1,0), (1,0), (0,1)`` give off-diagonal ``S`` of
    ``.8`` (0,1), ``0`` (0,2), ``.4`` (1,2); every row's two z-scores are ``±1``, so with ``temperature=.5``
    ``T[0,1] = tanh 2``, ``T[0,2] = -tanh 2`` and ``T[1,2] = 0`` (row 1 ranks item 2 last, row 2 ranks item 1 first).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    s = paired_similarity(image_features, text_features)
    n = s.shape[-1]
    if n < 2:
        return torch.ones_like(s)
    off = ~torch.eye(n, dtype=torch.bool, device=s.device)
    vals = s[..., off].reshape(*s.shape[:-2], n, n - 1)
    mu = vals.mean(-1, keepdim=True)
    sigma = vals.std(-1, unbiased=False, keepdim=True)
    t = torch.tanh((s - mu) / (sigma + eps) / temperature)
    t = torch.where(off, t, torch.ones_like(t))
    return (t + t.transpose(-1, -2)) / 2


def label_similarity_target(labels) -> torch.Tensor:
    """Label supervision of the hashing baseline: ``(..., B, B)`` with 1 for items that share a category, -1
    otherwise (the diagonal is 1: an image and its own caption always match).

    Args:
        labels: integer ``(..., B)`` category ids (``-1`` = unknown, shares nothing), or a bool / float multi-hot
            ``(B, C)`` matrix (share = any common category).
    """
    lab = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
    if lab.ndim == 0:
        raise ValueError("labels must be (..., B) category ids or a (B, C) multi-hot matrix, got a scalar")
    if lab.dtype.is_floating_point or lab.dtype == torch.bool:
        if lab.ndim != 2:
            raise TypeError(f"labels: category ids must be integers, and a multi-hot matrix (B, C); got {lab.dtype} "
                            f"of shape {tuple(lab.shape)}")
        m = lab.float()
        same = (m @ m.T) > 0
    else:
        lab = lab.long()
        same = (lab[..., :, None] == lab[..., None, :]) & (lab[..., :, None] >= 0)
    same = same | torch.eye(same.shape[-1], dtype=torch.bool, device=lab.device)
    return same.float() * 2 - 1
