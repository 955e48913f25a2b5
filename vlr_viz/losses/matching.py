"""Cross-modal matching: symmetric multi-positive InfoNCE (Yang et al., TIP 2024, eq. of L_match; CLIP)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .targets import check_pair_batch, positive_targets, soft_cross_entropy


def matching_loss(v: torch.Tensor, t: torch.Tensor, img_id: torch.Tensor, *,
                  logit_scale: torch.Tensor | float) -> dict[str, torch.Tensor]:
    """``L_match = ½ [CE_soft(v·tᵀ/τ, Y) + CE_soft(t·vᵀ/τ, Y)]``.

    Row ``i`` of the batch is caption ``i`` and the image it describes; ``Y[i, j] = 1[img_id_i == img_id_j] /
    n_pos(i)``, so a repeated image (several captions in the batch) is a positive of each of them.

    Args:
        v: ``(B, D)`` image embeddings (normalised here).
        t: ``(B, D)`` text embeddings (normalised here).
        img_id: ``(B,)`` image id of each row.
        logit_scale: ``1/τ`` (e.g. ``LogitScale()()``; τ init 0.07).

    Returns:
        ``{"match_loss": scalar}``.

    Example:
        >>> v = t = torch.eye(2); matching_loss(v, t, torch.tensor([0, 1]), logit_scale=1.0)["match_loss"]
        tensor(0.3133)
    """
    check_pair_batch(v, t, img_id)
    v, t = F.normalize(v, dim=-1), F.normalize(t, dim=-1)
    logits = logit_scale * (v @ t.T)
    y = positive_targets(img_id)
    loss = 0.5 * (soft_cross_entropy(logits, y) + soft_cross_entropy(logits.T, y))
    return {"match_loss": loss}
