"""Cross-modal retrieval judged by category: for datasets whose captions name a class and little else (Fashion-MNIST's
template captions), where the paired caption is indistinguishable from any other caption of its class and
instance-level R@K measures chance.

- category R@K: the share of queries with at least one item of their own category among the top K;
- category mAP: `vlr_viz.eval.codes.cross_modal_map` (whole gallery).

Scores are cosine similarities, computed in blocks of queries (memory ``block × gallery``).
"""
from __future__ import annotations

import numpy as np
import torch

from ..arrays import l2_normalize
from .cutoffs import check_cutoffs


def category_recall(query, gallery, query_labels, gallery_labels, ks=(1, 5, 10), block: int = 2048) -> dict:
    """``{"R@K": percent}``: queries whose top K gallery items hold one of their category (unknown labels ``-1``
    never match; queries without a known label are left out)."""
    ks = check_cutoffs(ks)
    q = torch.from_numpy(l2_normalize(np.asarray(query, dtype=np.float32)))
    g = torch.from_numpy(l2_normalize(np.asarray(gallery, dtype=np.float32)))
    ql, gl = np.asarray(query_labels, np.int64), torch.from_numpy(np.asarray(gallery_labels, np.int64))
    if q.shape[0] != ql.size or g.shape[0] != gl.numel() or q.shape[1] != g.shape[1]:
        raise ValueError(f"query {tuple(q.shape)} / gallery {tuple(g.shape)} do not match their labels "
                         f"({ql.size}, {gl.numel()}) or each other")
    kmax = min(max(ks), g.shape[0])
    first_hit = []
    for lo in range(0, q.shape[0], block):
        top = torch.topk(q[lo:lo + block] @ g.T, kmax, dim=1).indices
        hit = gl[top] == torch.from_numpy(ql[lo:lo + block])[:, None]
        rank = torch.where(hit.any(1), hit.int().argmax(1), torch.full((hit.shape[0],), kmax))
        first_hit.append(rank.numpy())
    rank = np.concatenate(first_hit)[ql >= 0]
    return {f"R@{k}": float(100.0 * np.mean(rank < k)) for k in ks}


def category_retrieval(image_emb, text_emb, image_labels, text_labels, ks=(1, 5, 10)) -> dict:
    """i2t and t2i category R@K and mAP (percent): ``i2t_R@K``, ``t2i_R@K``, ``i2t_map``, ``t2i_map``, ``map_mean``."""
    from .codes import cross_modal_map

    out = {f"i2t_{k}": v for k, v in category_recall(image_emb, text_emb, image_labels, text_labels, ks).items()}
    out.update({f"t2i_{k}": v for k, v in category_recall(text_emb, image_emb, text_labels, image_labels, ks).items()})
    maps = cross_modal_map(l2_normalize(image_emb), l2_normalize(text_emb), image_labels, text_labels, ks=(100,))
    out.update({k: maps[k] for k in ("i2t_map", "t2i_map", "map_mean")})
    return out
