"""Retrieval metrics for compact codes: mAP@K with category relevance, cross-modal R@K, memory per item.

Queries stay float (student embeddings), the gallery is coded; scores are inner-product ADC scores
``<q, decode(code)>`` (see :mod:`vlr_viz.models.quantizer`), computed by decoding the gallery and taking a matrix
product: the same scores the lookup tables (and FAISS ``IndexPQ``) sum, up to float rounding.

mAP uses the project's :func:`vlr_viz.eval.ranking.average_precision_at_k` (``AP@K = Σ_{r ≤ K} P@r·rel_r /
min(K, R)``, ``map`` over the whole gallery, percent, stable tie order by gallery index, queries without any
relevant item skipped) and :func:`vlr_viz.eval.relevance.category_relevance` (same category, both labels known).
Ties are frequent with codes: they rank by gallery index, in mAP and in R@K alike.
"""
from __future__ import annotations

import numpy as np
import torch

from vlr_viz.eval.cutoffs import check_cutoffs
from vlr_viz.eval.ranking import average_precision_at_k
from vlr_viz.eval.relevance import category_relevance
from vlr_viz.models.quantizer import code_dtype, decode_codes, pq_shape_for_bits


def _tensor(x) -> torch.Tensor:
    return x.detach().cpu() if torch.is_tensor(x) else torch.as_tensor(np.asarray(x))


def chance_map(query_labels, gallery_labels) -> float:
    """Category-prior chance level of mAP (percent): the mean over queries of the fraction of relevant gallery
    items, the expected AP of a random ranking up to O(1/G)."""
    rel = category_relevance(query_labels, gallery_labels)
    has = rel.any(1)
    if not has.any():
        raise ValueError("query_labels: no query has a relevant gallery item")
    return float(100 * rel.mean(1)[has].mean())


def code_map(query_embeddings, gallery_codes, codebooks, query_labels, gallery_labels,
             ks=(50, 100)) -> dict[str, float]:
    """mAP@K / mAP (percent) of float queries against a coded gallery by ADC inner product, category
    relevance."""
    q, cb = _tensor(query_embeddings).float(), _tensor(codebooks).float()
    if q.ndim != 2 or q.shape[1] != cb.shape[0] * cb.shape[2]:
        raise ValueError(f"queries must have shape (Q, {cb.shape[0] * cb.shape[2]}), got {tuple(q.shape)}")
    scores = q @ decode_codes(_tensor(gallery_codes), cb).T
    return average_precision_at_k(scores.numpy(), category_relevance(query_labels, gallery_labels), ks)


def float_map(query_embeddings, gallery_embeddings, query_labels, gallery_labels, ks=(50, 100)) -> dict[str, float]:
    """The same metric for float embeddings (inner product of the given vectors; pass normalised ones for
    cosine)."""
    q, g = _tensor(query_embeddings).float(), _tensor(gallery_embeddings).float()
    return average_precision_at_k((q @ g.T).numpy(), category_relevance(query_labels, gallery_labels), ks)


def cross_modal_map(image_embeddings, text_embeddings, image_labels, text_labels, *, image_codes=None,
                    text_codes=None, codebooks=None, ks=(50, 100)) -> dict[str, float]:
    """i2t and t2i mAP@K / mAP (percent) with category relevance.

    With ``codebooks`` and codes: image queries (float) search the coded texts and text queries (float) search the
    coded images; without: float against float. Returns ``i2t_map@K``, ``i2t_map``, ``t2i_...`` and ``map_mean``
    (mean of ``i2t_map`` and ``t2i_map``).
    """
    if codebooks is None:
        i2t = float_map(image_embeddings, text_embeddings, image_labels, text_labels, ks)
        t2i = float_map(text_embeddings, image_embeddings, text_labels, image_labels, ks)
    else:
        if image_codes is None or text_codes is None:
            raise ValueError("image_codes and text_codes are required with codebooks")
        i2t = code_map(image_embeddings, text_codes, codebooks, image_labels, text_labels, ks)
        t2i = code_map(text_embeddings, image_codes, codebooks, text_labels, image_labels, ks)
    out = {f"i2t_{k}": v for k, v in i2t.items()}
    out.update({f"t2i_{k}": v for k, v in t2i.items()})
    out["map_mean"] = (i2t["map"] + t2i["map"]) / 2
    return out


def _positive_ranks(scores: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """0-based rank of gallery item ``positive[q]`` in row ``q``: items scoring higher, plus tied items with a
    smaller index (the position a stable descending sort gives)."""
    pos_score = scores.gather(1, positive[:, None])
    idx = torch.arange(scores.shape[1], device=scores.device)
    return (scores > pos_score).sum(1) + ((scores == pos_score) & (idx[None, :] < positive[:, None])).sum(1)


def code_recall_at_k(image_embeddings, text_embeddings, image_codes, text_codes, codebooks, txt_to_img,
                     ks=(1, 5, 10), chunk_size: int = 1024) -> dict[str, float]:
    """Cross-modal R@K (%) with codes: float image queries rank the coded captions (rank of an image = best rank
    among its captions), float caption queries rank the coded images. Scores are ADC inner products, computed by
    decoding the gallery (identical ranking). Returns ``i2t_R@K``, ``t2i_R@K`` and ``rsum``
    (keys as in :func:`vlr_viz.eval.recall_at_k`, which ranks by cosine and so cannot score un-normalised codes)."""
    ks = check_cutoffs(ks)
    cb = _tensor(codebooks).float()
    img, txt = _tensor(image_embeddings).float(), _tensor(text_embeddings).float()
    t2i_map = _tensor(txt_to_img).long()
    if t2i_map.shape != (txt.shape[0],):
        raise ValueError(f"txt_to_img must have shape ({txt.shape[0]},), got {tuple(t2i_map.shape)}")
    txt_dec, img_dec = decode_codes(_tensor(text_codes), cb), decode_codes(_tensor(image_codes), cb)
    n_img = img.shape[0]
    i2t_rank = torch.full((n_img,), txt.shape[0], dtype=torch.long)
    t2i_rank = torch.empty(txt.shape[0], dtype=torch.long)
    caption_idx = torch.arange(txt.shape[0])
    for start in range(0, txt.shape[0], chunk_size):
        sl = slice(start, start + chunk_size)
        t2i_rank[sl] = _positive_ranks(txt[sl] @ img_dec.T, t2i_map[sl])
        # i2t: for every caption c, the rank of c in the row of its image
        ranks = _positive_ranks(img[t2i_map[sl]] @ txt_dec.T, caption_idx[sl])
        i2t_rank.scatter_reduce_(0, t2i_map[sl], ranks, reduce="amin")
    has_caption = torch.zeros(n_img, dtype=torch.bool)
    has_caption[t2i_map] = True
    i2t_rank = i2t_rank[has_caption]
    out = {}
    for k in ks:
        out[f"i2t_R@{k}"] = float((i2t_rank < k).float().mean() * 100)
    for k in ks:
        out[f"t2i_R@{k}"] = float((t2i_rank < k).float().mean() * 100)
    out["rsum"] = sum(out.values())
    return out


def code_retrieval_metrics(image_queries, text_queries, image_codes, text_codes, codebooks, txt_to_img, image_labels,
                           ks=(1, 5, 10), map_ks=(50,)) -> dict[str, float]:
    """Everything the code tables report for one coded split: float image queries against the coded captions and
    float caption queries against the coded images.

    Returns :func:`code_recall_at_k` (``i2t_R@K``, ``t2i_R@K``, ``rsum``) and :func:`cross_modal_map` (``i2t_map``,
    ``t2i_map``, ``@K`` variants, ``map_mean``) with category relevance (``image_labels``; captions inherit their
    image's label).
    """
    labels = np.asarray(image_labels)
    text_labels = labels[_tensor(txt_to_img).long().numpy()]
    out = code_recall_at_k(image_queries, text_queries, image_codes, text_codes, codebooks, txt_to_img, ks)
    out.update(cross_modal_map(image_queries, text_queries, labels, text_labels, image_codes=image_codes,
                               text_codes=text_codes, codebooks=codebooks, ks=map_ks))
    return out


def memory_per_item(bits: int, num_codewords: int = 256, dim: int = 256, float_bytes: int = 4) -> dict[str, float]:
    """Bytes per gallery item: a ``bits``-bit code (packed: ``bits/8``; as stored by ``encode``: one uint8/uint16
    per sub-codebook) against a float vector of ``dim`` entries of ``float_bytes`` bytes, and the ratio."""
    m, k = pq_shape_for_bits(bits, num_codewords)
    stored = m * (1 if code_dtype(k) == torch.uint8 else 2)
    floats = dim * float_bytes
    return {"bits": bits, "code_bytes": bits / 8, "stored_bytes": stored, "float_bytes": floats,
            "compression": floats / stored}
