"""VSE++ hinge loss with hardest negatives (Faghri et al., BMVC 2018), multi-positive aware."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .targets import check_pair_batch


def vse_hinge_loss(v: torch.Tensor, t: torch.Tensor, img_id: torch.Tensor,
                   margin: float = 0.2) -> dict[str, torch.Tensor]:
    """``L = mean_i ( max_{j∉P(i)} [m + s(v_i, t_j) - s(v_i, t_i)]_+ + max_{j∉P(i)} [m + s(v_j, t_i) - s(v_i, t_i)]_+ )``.

    ``s`` is the cosine, ``P(i) = {j : img_id_j == img_id_i}`` (positives are never negatives), and a row with
    no negative contributes 0. VSE++ sums over the batch; the mean here keeps the scale independent of B.

    Args:
        v: ``(B, D)`` image embeddings (normalised here).
        t: ``(B, D)`` text embeddings; row ``i`` describes image row ``i``.
        img_id: ``(B,)`` image id of each row.
        margin: hinge margin ``m`` (VSE++: 0.2).

    Returns:
        ``{"match_loss": scalar}``.
    """
    check_pair_batch(v, t, img_id)
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    v, t = F.normalize(v, dim=-1), F.normalize(t, dim=-1)
    s = v @ t.T
    pos = s.diagonal()
    negative = img_id[:, None] != img_id[None, :]
    floor = torch.finfo(s.dtype).min
    hardest_txt = s.masked_fill(~negative, floor).amax(dim=1)  # per image row i
    hardest_img = s.masked_fill(~negative, floor).amax(dim=0)  # per caption column i
    has_neg = negative.any(dim=1)
    cost = (margin + hardest_txt - pos).clamp(min=0) + (margin + hardest_img - pos).clamp(min=0)
    return {"match_loss": torch.where(has_neg, cost, torch.zeros_like(cost)).mean()}
