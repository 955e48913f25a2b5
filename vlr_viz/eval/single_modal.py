"""Single-modal retrieval (image→image, text→text), as in the TIP24 / CoVLR code after TERAN.

Relevance ``rel`` is the ``(M, N)`` caption→image ROUGE-L matrix of `vlr_viz.eval.relevance`:
- i2i: every image queries all other images (itself excluded); relevance of image ``j`` to query image ``q`` is
  ``rel[first caption of q, j]``.
- t2t: the first caption of each image queries all captions (itself excluded); relevance of caption ``c`` is
  ``rel[query caption, image of c]``, so the query's sibling captions are relevant.
Scores are cosine similarities. Graded metrics: NDCG@K (`ndcg_at_k`, linear gains by default). Binary metrics by
category (same known label): mAP@K, NDCG@K and kNN accuracy. ``exclude_family=True`` also removes items of the
query's near-duplicate family (``pairs.family``) from its gallery. Keys read ``{task}_{metric}[{relevance}]``,
relevance ``rougeL`` (``rougeL-exp`` with exponential gains) or ``category``.

Queries with no relevant item besides themselves (IDCG = 0): ``empty_queries="skip"`` (default) leaves them out of
the NDCG mean, ``"zero"`` scores them 0, as the TIP24 / CoVLR code (``uni_ndcg_i2i`` / ``uni_ndcg_t2t``) does; see
`vlr_viz.eval.ranking`. On the Twemoji test split about a fifth of the i2i queries have no ROUGE-L-relevant image,
so the two conventions differ by that share. ``per_query=True`` returns per-query values instead of means (for
`vlr_viz.stats.paired_bootstrap`).
"""
from __future__ import annotations

import numpy as np

from vlr_viz.eval.ranking import RowBlocks, cosine_blocks, ranking_report
from vlr_viz.eval.relevance import category_relevance


def check_inputs(pairs, rel, img_emb=None, txt_emb=None) -> np.ndarray | None:
    """Validate shapes against ``pairs``; return ``rel`` as an array (``None`` stays ``None``: no graded relevance,
    e.g. a dataset whose captions are known only by their features; the category metrics remain)."""
    n, m = pairs.n_images, pairs.n_captions
    rel = None if rel is None else np.asarray(rel)
    if rel is not None and rel.shape != (m, n):
        raise ValueError(f"relevance must have shape (n_captions, n_images) = ({m}, {n}); got {rel.shape}")
    for emb, name, rows, item in ((img_emb, "img_emb", n, "image"), (txt_emb, "txt_emb", m, "caption")):
        if emb is not None and (np.ndim(emb) != 2 or emb.shape[0] != rows):
            raise ValueError(f"{name} must have {rows} rows (one per {item}); got shape {tuple(emb.shape)}")
    if (pairs.first_caption_of_image() < 0).any():
        raise ValueError("pairs: every image needs a caption (first_caption_of_image has -1)")
    return rel


def ranking_metrics(task, scores, mask, graded, relevant, query_labels, gallery_labels, *, ks, gain, knn_k,
                    empty_queries="skip", per_query=False) -> dict:
    """NDCG@K on ``graded`` plus mAP@K, NDCG@K and kNN accuracy on the binary ``relevant``, named for ``task``."""
    tag = "rougeL" if gain == "linear" else "rougeL-exp"
    report = ranking_report(scores, mask, graded=graded, relevant=relevant, query_labels=query_labels,
                            gallery_labels=gallery_labels, ks=ks, gain=gain, knn_k=knn_k,
                            empty_queries=empty_queries, per_query=per_query)
    out = {}
    for key, value in report.items():
        if key.endswith("[binary]"):
            out[f"{task}_{key[: -len('[binary]')]}[category]"] = value
        elif key.startswith("ndcg"):
            out[f"{task}_{key}[{tag}]"] = value
        else:
            out[f"{task}_{key}[category]"] = value
    return out


def gallery_mask(query_ids, gallery_ids, query_family, gallery_family, exclude_family) -> RowBlocks:
    """Per query, the gallery without the query itself (and, with ``exclude_family``, without its family)."""
    def rows(r):
        mask = query_ids[r, None] != gallery_ids[None, :]
        if exclude_family:
            mask &= query_family[r, None] != gallery_family[None, :]
        return mask

    return RowBlocks((len(query_ids), len(gallery_ids)), rows)


def category_blocks(query_labels, gallery_labels) -> RowBlocks:
    """`category_relevance` as `RowBlocks`."""
    return RowBlocks((len(query_labels), len(gallery_labels)),
                     lambda r: category_relevance(query_labels[r], gallery_labels))


def relevance_blocks(rel, query_rows, gallery_columns=None) -> RowBlocks:
    """``rel[query_rows][:, gallery_columns]`` (all columns when ``None``) as `RowBlocks`."""
    n_cols = rel.shape[1] if gallery_columns is None else len(gallery_columns)
    if gallery_columns is None:
        return RowBlocks((len(query_rows), n_cols), lambda r: rel[query_rows[r]])
    return RowBlocks((len(query_rows), n_cols), lambda r: rel[query_rows[r]][:, gallery_columns])


def image_to_image(img_emb, pairs, rel, *, ks=(10, 20, 50), gain="linear", exclude_family=False, knn_k=10,
                   empty_queries="skip", per_query=False) -> dict:
    """i2i metrics: each image queries all other images; relevance ``rel[first caption of query, j]``."""
    rel = check_inputs(pairs, rel, img_emb=img_emb)
    ids = np.arange(pairs.n_images)
    mask = gallery_mask(ids, ids, pairs.family, pairs.family, exclude_family)
    graded = None if rel is None else relevance_blocks(rel, pairs.first_caption_of_image())
    relevant = category_blocks(pairs.labels, pairs.labels)
    scores = cosine_blocks(img_emb, img_emb)
    return ranking_metrics("i2i", scores, mask, graded, relevant, pairs.labels, pairs.labels,
                           ks=ks, gain=gain, knn_k=knn_k, empty_queries=empty_queries, per_query=per_query)


def text_to_text(txt_emb, pairs, rel, *, ks=(10, 20, 50), gain="linear", exclude_family=False, knn_k=10,
                 empty_queries="skip", per_query=False) -> dict:
    """t2t metrics: the first caption of each image queries all captions; relevance ``rel[query, image of c]``."""
    rel = check_inputs(pairs, rel, txt_emb=txt_emb)
    queries = pairs.first_caption_of_image()
    t2i = pairs.txt_to_img
    fam = pairs.family[t2i]
    mask = gallery_mask(queries, np.arange(pairs.n_captions), fam[queries], fam, exclude_family)
    graded = None if rel is None else relevance_blocks(rel, queries, t2i)
    labels = pairs.caption_labels
    relevant = category_blocks(labels[queries], labels)
    txt = np.asarray(txt_emb.detach().cpu() if hasattr(txt_emb, "detach") else txt_emb)
    scores = cosine_blocks(txt[queries], txt)
    return ranking_metrics("t2t", scores, mask, graded, relevant, labels[queries], labels,
                           ks=ks, gain=gain, knn_k=knn_k, empty_queries=empty_queries, per_query=per_query)


def single_modal_retrieval(img_emb, txt_emb, pairs, rel, *, ks=(10, 20, 50), gain="linear", exclude_family=False,
                           knn_k=10, empty_queries="skip", per_query=False) -> dict:
    """Both `image_to_image` and `text_to_text`; either embedding may be None to skip its task."""
    out = {}
    opts = dict(ks=ks, gain=gain, exclude_family=exclude_family, knn_k=knn_k, empty_queries=empty_queries,
                per_query=per_query)
    if img_emb is not None:
        out.update(image_to_image(img_emb, pairs, rel, **opts))
    if txt_emb is not None:
        out.update(text_to_text(txt_emb, pairs, rel, **opts))
    return out


def category_strength(features, labels, *, queries=None, family=None, ks=(10,), knn_k: int = 10,
                      gain: str = "linear", empty_queries: str = "skip") -> dict:
    """Single-modal retrieval of one modality's features judged by category, computed a block of queries at a time.

    Each query (default: every item; those with label ``-1`` are left out) ranks all other items by cosine
    similarity; an item is relevant when it shares the query's category (label ``-1`` never is). ``family`` (one
    id per item): also hide a query's same-family items from its gallery. Returns ``{"ndcg@k": ...,
    "ndcg_skipped": ..., "knn@knn_k": ...}`` (×100; `ranking_report`), plus ``"queries"``, ``"mask"`` and
    ``"relevant"`` (the query indices and `RowBlocks` of the gallery mask and relevance, for a chance level).
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or np.shape(features)[0] != n:
        raise ValueError(f"labels must be one integer per feature row ({np.shape(features)[0]}); got shape "
                         f"{labels.shape}")
    q = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    if q.ndim != 1 or (q.size and (q.min() < 0 or q.max() >= n)):
        raise ValueError(f"queries must be indices into the {n} items")
    q = q[labels[q] >= 0]
    if q.size == 0:
        raise ValueError("single-modal strength needs at least one query with a known label")
    if family is not None and np.shape(family) != (n,):
        raise ValueError(f"family must have one entry per item ({n}); got shape {np.shape(family)}")
    fam = np.zeros(n, np.int64) if family is None else np.asarray(family)
    mask = gallery_mask(q, np.arange(n), fam[q], fam, family is not None)
    relevant = category_blocks(labels[q], labels)
    graded = RowBlocks(relevant.shape, lambda r: relevant[r].astype(np.float32))
    report = ranking_report(cosine_blocks(np.asarray(features)[q], features), mask, graded=graded,
                            query_labels=labels[q], gallery_labels=labels, ks=ks, gain=gain, knn_k=knn_k,
                            empty_queries=empty_queries)
    return {**report, "queries": q, "mask": mask, "relevant": relevant}
