"""Normalisation with paired consistency (NPC): the distillation target of DCMQ, and the loss that matches it.

DCMQ (Distilling vision-language pretraining for efficient cross-modal retrieval, arXiv 2405.14726) turns the
teacher's image-image, text-text and image-text similarities of a batch of pairs into one discriminative target in
which a pair's score agrees across modality combinations. The paper's public text gives only the name; the
formula below is OUR reading of it.

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
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F


def _as_features(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim != 2 or t.shape[0] == 0:
        raise ValueError(f"{name} must have shape (B, D) with B >= 1, got {tuple(t.shape)}")
    return t.float() if not t.dtype.is_floating_point else t


def paired_similarity(image_features, text_features) -> torch.Tensor:
    """``S = (S_ii + S_tt + S_it + S_itᵀ) / 4`` of pairs ``(image_features[i], text_features[i])``: ``(B, B)``."""
    a = F.normalize(_as_features(image_features, "image_features"), dim=1)
    b = F.normalize(_as_features(text_features, "text_features"), dim=1)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"image_features has {a.shape[0]} rows but text_features has {b.shape[0]}: need B pairs")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"image_features (dim {a.shape[1]}) and text_features (dim {b.shape[1]}) must share one space")
    s_it = a @ b.T
    return (a @ a.T + b @ b.T + s_it + s_it.T) / 4


def npc_target(image_features, text_features, temperature: float = 1.0, eps: float = 1e-6) -> torch.Tensor:
    """NPC target ``T`` ``(B, B)`` in ``[-1, 1]`` (formula in the module docstring; diagonal 1).

    Args:
        image_features: teacher image features ``(B, Da)`` of the ``B`` pairs (any scale; L2-normalised here).
        text_features: teacher text features ``(B, Da)`` of the same pairs, in the same space as the images
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
    n = s.shape[0]
    if n < 2:
        return torch.ones(n, n, dtype=s.dtype, device=s.device)
    off = ~torch.eye(n, dtype=torch.bool, device=s.device)
    vals = s[off].reshape(n, n - 1)
    mu = vals.mean(1, keepdim=True)
    sigma = vals.std(1, unbiased=False, keepdim=True)
    t = torch.tanh((s - mu) / (sigma + eps) / temperature)
    t = torch.where(off, t, torch.ones_like(t))
    return (t + t.T) / 2


def label_similarity_target(labels) -> torch.Tensor:
    """Label supervision of the hashing baseline: ``(B, B)`` with 1 for items that share a category, -1 otherwise.

    Args:
        labels: int ``(B,)`` category ids (``-1`` = unknown, shares nothing) or multi-hot ``(B, C)`` (share = any
            common category). The diagonal is 1 (an image and its own caption always match).
    """
    lab = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
    if lab.ndim == 1:
        if lab.dtype.is_floating_point:
            raise TypeError(f"labels (B,) must be integer category ids, got {lab.dtype}")
        lab = lab.long()
        same = (lab[:, None] == lab[None, :]) & (lab[:, None] >= 0)
    elif lab.ndim == 2:
        m = lab.float()
        same = (m @ m.T) > 0
    else:
        raise ValueError(f"labels must be (B,) ids or (B, C) multi-hot, got shape {tuple(lab.shape)}")
    same |= torch.eye(lab.shape[0], dtype=torch.bool, device=lab.device)
    return same.float() * 2 - 1


def code_similarities(image_quantized: torch.Tensor, text_quantized: torch.Tensor,
                      image_embedding: torch.Tensor | None = None,
                      text_embedding: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Student similarity blocks of a batch of pairs.

    Returns cosines of the quantised vectors for the four modality combinations, ``"ii"``, ``"tt"``, ``"it"``
    (row = image, column = text) and ``"ti"``; given the float embeddings (L2-normalised tower outputs), also the
    asymmetric search scores ``"i2t_adc" = v qtᵀ`` and ``"t2i_adc" = t qvᵀ`` (plain inner products, exactly what
    ADC ranks by).
    """
    qv, qt = F.normalize(image_quantized, dim=1), F.normalize(text_quantized, dim=1)
    blocks = {"ii": qv @ qv.T, "tt": qt @ qt.T, "it": qv @ qt.T, "ti": qt @ qv.T}
    if image_embedding is not None and text_embedding is not None:
        blocks["i2t_adc"] = image_embedding @ text_quantized.T
        blocks["t2i_adc"] = text_embedding @ image_quantized.T
    return blocks


def npc_distillation_loss(student_similarities: Mapping[str, torch.Tensor],
                          target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean squared error between each student similarity block and the target.

    ``L_block = mean_{i,j} (S_block[i,j] - T[i,j])²`` over all entries (the diagonal of the cross-modal blocks is
    the paired item, target 1); ``npc_loss`` is the mean over the blocks.

    Returns: ``{"npc_<block>": ..., "npc_loss": ...}``.
    """
    if not student_similarities:
        raise ValueError("student_similarities is empty")
    terms = {}
    for name, sim in student_similarities.items():
        if sim.shape != target.shape:
            raise ValueError(f"student similarity {name!r} has shape {tuple(sim.shape)}, target {tuple(target.shape)}")
        terms[f"npc_{name}"] = ((sim - target.to(sim)) ** 2).mean()
    terms["npc_loss"] = torch.stack(list(terms.values())).mean()
    return terms
