"""Graded and binary ranking metrics over a query × gallery score matrix: NDCG@K, mAP@K, kNN accuracy.

Conventions shared by every function here:
- a gallery item is *excluded* from a query's ranking where its score is NaN or ``mask`` is False;
- ranking order is a stable ``argsort(-score)``: equal scores rank by lower gallery index first;
- results are means over queries, in percent. A query with nothing relevant in its gallery (IDCG = 0) has no
  defined NDCG; ``empty_queries`` says what the mean does with it (`EMPTY_QUERIES`): ``"skip"`` leaves it out
  (trec_eval's habit; vlr_viz's default), ``"zero"`` scores it 0 and keeps it in the mean (the TIP24 / CoVLR
  code, ``uni_ndcg_i2i`` / ``uni_ndcg_t2t``). Either way ``ndcg_skipped`` counts such queries. mAP always skips
  queries with nothing relevant.
Each block of query rows is sorted once; `ranking_report` computes every metric from that one sort.
"""
from __future__ import annotations

import numpy as np

from ..arrays import unit_rows
from .cutoffs import check_cutoffs

_ROW_CHUNK = 512
EMPTY_QUERIES = ("skip", "zero")


def _numpy(x) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)


def _matrix(x, name: str, shape=None) -> np.ndarray:
    x = _numpy(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (queries, gallery) array; got shape {x.shape}")
    if shape is not None and x.shape != shape:
        raise ValueError(f"{name} has shape {x.shape} but scores has shape {shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    return x


def _gain(rel: np.ndarray, gain: str) -> np.ndarray:
    if gain == "linear":
        return rel
    if gain == "exponential":
        return np.exp2(rel) - 1.0
    raise ValueError(f"gain must be 'linear' or 'exponential'; got {gain!r}")


def _ndcg_rows(order, kept, keep, g, ks) -> np.ndarray:
    """``(len(ks), Q)`` NDCG@K per query (NaN where IDCG = 0) from a ranking and gains ``g``."""
    kmax = min(max(ks), order.shape[1])
    top_gain = np.where(kept[:, :kmax], np.take_along_axis(g, order[:, :kmax], 1), 0.0)
    ideal = -np.sort(-np.where(keep, g, 0.0), axis=1)[:, :kmax]
    discount = 1.0 / np.log2(np.arange(2, kmax + 2))
    out = np.full((len(ks), order.shape[0]), np.nan)
    valid = ideal[:, 0] > 0
    for i, k in enumerate(ks):
        dcg = (top_gain[:, :k] * discount[:k]).sum(1)
        idcg = (ideal[:, :k] * discount[:k]).sum(1)
        out[i, valid] = dcg[valid] / idcg[valid]
    return out


def _ap_rows(order, kept, relevant, ks) -> np.ndarray:
    """``(len(ks) + 1, Q)`` AP@K per query, full AP last (NaN where nothing is relevant)."""
    hits = np.take_along_axis(relevant, order, 1) & kept
    n_rel = hits.sum(1)
    precision_hits = np.cumsum(hits, 1) / np.arange(1, hits.shape[1] + 1) * hits
    out = np.full((len(ks) + 1, order.shape[0]), np.nan)
    valid = n_rel > 0
    for i, k in enumerate(ks):
        out[i, valid] = precision_hits[valid, :k].sum(1) / np.minimum(k, n_rel[valid])
    out[-1, valid] = precision_hits[valid].sum(1) / n_rel[valid]
    return out


def _knn_rows(order, kept, query_labels, gallery_labels, k) -> np.ndarray:
    """``(Q,)`` 1.0 / 0.0 whether the majority label of the first ``k`` labelled neighbours is right, NaN if the
    query has no label. Vote ties go to the smallest label."""
    labels = gallery_labels[order]
    voter = kept & (labels >= 0)
    voter &= np.cumsum(voter, 1) <= k
    n_labels = max(int(gallery_labels.max()), int(query_labels.max()), 0) + 1
    votes = np.stack([(voter & (labels == c)).sum(1) for c in range(n_labels)], 1)
    correct = (votes.argmax(1) == query_labels).astype(np.float64)  # argmax: first maximum, smallest label
    correct[query_labels < 0] = np.nan
    return correct


def ranked(scores: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, kept)``: per row, gallery indices by stable descending score (excluded items last), and
    whether each ranked item is included."""
    order = np.argsort(np.where(keep, -scores, np.inf), axis=1, kind="stable")
    return order, np.take_along_axis(keep, order, 1)


def _mean(per_query: np.ndarray) -> float:
    valid = ~np.isnan(per_query)
    return float(100.0 * per_query[valid].mean()) if valid.any() else float("nan")


def describe_empty_queries(empty_queries: str) -> str:
    """One sentence naming the NDCG convention ``empty_queries`` for a table caption."""
    if check_empty_queries(empty_queries) == "skip":
        return ("NDCG convention empty_queries='skip': queries with no relevant item are left out of the mean "
                "(trec_eval's habit; the TIP24 code scores them 0 instead, empty_queries='zero').")
    return ("NDCG convention empty_queries='zero': queries with no relevant item score 0 and stay in the mean "
            "(the TIP24 / CoVLR code's uni_ndcg_i2i / uni_ndcg_t2t).")


def check_empty_queries(empty_queries: str) -> str:
    """``empty_queries`` after checking it is one of `EMPTY_QUERIES`."""
    if empty_queries not in EMPTY_QUERIES:
        raise ValueError(f"empty_queries must be one of {EMPTY_QUERIES}; got {empty_queries!r}")
    return empty_queries


class RowBlocks:
    """A ``(Q, G)`` matrix computed one block of query rows at a time: ``fn(rows)`` returns ``matrix[rows]`` for a
    slice of rows. `ranking_report` takes one wherever it takes a matrix, so a metric over 25k × 25k items never
    holds more than a block."""

    def __init__(self, shape: tuple[int, int], fn):
        self.shape, self.fn, self.ndim = (int(shape[0]), int(shape[1])), fn, 2

    def __getitem__(self, rows: slice) -> np.ndarray:
        return np.asarray(self.fn(rows))


def _source(x, name: str, shape=None):
    """``x`` as a row source (a `RowBlocks` or an array), after checking its shape."""
    if not isinstance(x, RowBlocks):
        return _matrix(x, name, shape)
    if shape is not None and x.shape != shape:
        raise ValueError(f"{name} has shape {x.shape} but scores has shape {shape}")
    if 0 in x.shape:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    return x


def ranking_report(scores, mask=None, *, graded=None, relevant=None, query_labels=None, gallery_labels=None,
                   ks=(10, 20, 50), gain: str = "linear", knn_k: int | None = None, empty_queries: str = "skip",
                   per_query: bool = False) -> dict:
    """Every metric of this module from one sort per block of queries.

    ``graded`` → ``ndcg@K`` (gain ``gain``); ``relevant`` (bool) → ``map@K``, ``map`` and binary ``ndcg@K``
    (keys suffixed ``[binary]``); labels with ``knn_k`` → ``knn@k``. Counts of queries with nothing relevant come
    as ``*_skipped``; ``empty_queries`` (module docstring) applies to both NDCGs. ``per_query=True`` returns the
    ``(Q,)`` per-query values (×100; NaN where a query has no value) instead of the means, under the same keys.
    ``scores``, ``mask``, ``graded`` and ``relevant`` may be arrays or `RowBlocks` (read a block at a time).
    """
    ks = check_cutoffs(ks)
    check_empty_queries(empty_queries)
    scores = _source(scores, "scores")
    shape = scores.shape
    mask = None if mask is None else _source(mask, "mask", shape)
    graded = None if graded is None else _source(graded, "relevance", shape)
    relevant = None if relevant is None else _source(relevant, "relevant", shape)
    if knn_k is not None:
        if int(knn_k) < 1:
            raise ValueError(f"k must be >= 1; got {knn_k}")
        query_labels, gallery_labels = np.asarray(query_labels, np.int64), np.asarray(gallery_labels, np.int64)
        if query_labels.shape != (shape[0],) or gallery_labels.shape != (shape[1],):
            raise ValueError(f"query_labels/gallery_labels must have shapes ({shape[0]},) and ({shape[1]},)")
    parts: dict[str, list] = {}
    for c in range(0, shape[0], _ROW_CHUNK):
        rows = slice(c, c + _ROW_CHUNK)
        s = np.asarray(scores[rows], dtype=np.float64)
        keep = ~np.isnan(s)
        if mask is not None:
            keep &= np.asarray(mask[rows]).astype(bool)
        if np.isinf(s[keep]).any():
            raise ValueError("scores contains inf for an included item; use NaN or mask to exclude items")
        order, kept = ranked(s, keep)
        if graded is not None:
            g = np.asarray(graded[rows], dtype=np.float64)
            if not np.isfinite(g).all() or (g < 0).any():
                raise ValueError("relevance must be finite and non-negative")
            parts.setdefault("ndcg", []).append(_ndcg_rows(order, kept, keep, _gain(g, gain), ks))
        if relevant is not None:
            r = np.asarray(relevant[rows])
            if r.dtype != bool:
                raise TypeError(f"relevant must be a bool array; got dtype {r.dtype}")
            parts.setdefault("map", []).append(_ap_rows(order, kept, r, ks))
            parts.setdefault("bin", []).append(_ndcg_rows(order, kept, keep, r.astype(float), ks))
        if knn_k is not None:
            parts.setdefault("knn", []).append(_knn_rows(order, kept, query_labels[rows], gallery_labels, int(knn_k)))
    out = {}
    reduce = (lambda v: 100.0 * v) if per_query else _mean
    for name, blocks in parts.items():
        values = np.concatenate(blocks, axis=-1)
        if name == "knn":
            out[f"knn@{knn_k}"] = reduce(values)
            continue
        prefix, suffix = ("map", "") if name == "map" else ("ndcg", "" if name == "ndcg" else "[binary]")
        empty = int(np.isnan(values[0]).sum())
        if prefix == "ndcg" and empty_queries == "zero":
            values = np.nan_to_num(values, nan=0.0)
        for i, k in enumerate(ks):
            out[f"{prefix}@{k}{suffix}"] = reduce(values[i])
        if name == "map":
            out["map"] = reduce(values[-1])
        out[f"{prefix}_skipped{suffix}"] = empty
    return out


def ndcg_at_k(scores, relevance, ks=(10, 20, 50), gain: str = "linear", mask=None,
              empty_queries: str = "skip") -> dict:
    """Normalised discounted cumulative gain (Järvelin & Kekäläinen, TOIS 2002).

    ``DCG@K = Σ_{r=1..K} g(rel_r) / log2(r + 1)`` over the ranked, non-excluded gallery; ``IDCG@K`` is the same
    sum with the relevances of the non-excluded items sorted descending; ``NDCG@K = DCG@K / IDCG@K``.

    Args:
        scores: ``(Q, G)`` similarity of each query to each gallery item; NaN excludes an item.
        relevance: ``(Q, G)`` non-negative graded relevance (e.g. ROUGE-L, `vlr_viz.eval.relevance`).
        ks: cut-offs (a K beyond the gallery size sums over the whole gallery).
        gain: ``"linear"`` ``g(r) = r`` (the TIP24 / CoVLR code) or ``"exponential"`` ``g(r) = 2^r - 1`` (TERAN).
        mask: optional ``(Q, G)`` bool, False excludes an item from that query's gallery.
        empty_queries: what to do with a query whose non-excluded gallery holds no positive relevance
            (IDCG = 0, NDCG undefined): ``"skip"`` leaves it out of the mean (trec_eval's habit, the default);
            ``"zero"`` scores it 0 and keeps it in the mean (the TIP24 / CoVLR code's ``uni_ndcg_i2i/t2t``).

    Returns:
        ``{"ndcg@K": mean over queries × 100, ..., "ndcg_skipped": queries with IDCG = 0}`` (counted under
        both conventions).

    Example:
        >>> round(ndcg_at_k([[0.9, 0.1]], [[0.0, 1.0]], ks=(2,))["ndcg@2"], 2)  # 100 · (1 / log2 3) / 1
        63.09
        >>> ndcg_at_k([[0.9, 0.1], [0.5, 0.4]], [[1.0, 0.0], [0.0, 0.0]], ks=(2,), empty_queries="zero")["ndcg@2"]
        50.0
    """
    return ranking_report(scores, mask, graded=relevance, ks=ks, gain=gain, empty_queries=empty_queries)


def average_precision_at_k(scores, relevant, ks=(10, 20, 50), mask=None) -> dict:
    """Mean average precision at K with binary relevance (the hashing-literature normaliser).

    ``AP@K = Σ_{r=1..K} P@r · rel_r / min(K, R)``, with ``P@r`` the precision of the first ``r`` results and
    ``R`` the number of relevant non-excluded items; ``map`` is AP over the whole gallery (``Σ P@r·rel_r / R``).

    Args:
        scores: ``(Q, G)`` similarities; NaN excludes an item.
        relevant: ``(Q, G)`` bool, True where the gallery item is relevant to the query.
        ks: cut-offs.
        mask: optional ``(Q, G)`` bool, False excludes an item.

    Returns:
        ``{"map@K": mean AP@K × 100, ..., "map": mean AP × 100, "map_skipped": queries with R = 0}``.
    """
    report = ranking_report(scores, mask, relevant=relevant, ks=ks)
    return {key: value for key, value in report.items() if key.startswith("map")}


def cosine_scores(query, gallery) -> np.ndarray:
    """``(Q, G)`` cosine similarity (float32) of L2-normalised rows."""
    q, g = unit_rows_checked(query, "query"), unit_rows_checked(gallery, "gallery")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query has dim {q.shape[1]} but gallery has dim {g.shape[1]}")
    return q @ g.T


def cosine_blocks(query, gallery) -> RowBlocks:
    """`cosine_scores` as `RowBlocks`: the ``(Q, G)`` similarities one block of query rows at a time."""
    q, g = unit_rows_checked(query, "query"), unit_rows_checked(gallery, "gallery")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query has dim {q.shape[1]} but gallery has dim {g.shape[1]}")
    return RowBlocks((q.shape[0], g.shape[0]), lambda rows: q[rows] @ g.T)


def unit_rows_checked(x, name: str) -> np.ndarray:
    """float32 rows scaled to unit norm (`vlr_viz.arrays.unit_rows`), after checking ``x`` is a non-empty finite 2-D
    array without an all-zero row."""
    x = _numpy(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    zero = np.flatnonzero(~np.any(x != 0, axis=1))
    if zero.size:
        raise ValueError(f"{name} has a row with zero norm (row {zero[0]})")
    return unit_rows(x, dtype=np.float32)


def knn_accuracy(query, gallery, query_labels, gallery_labels, k: int = 10, mask=None) -> float:
    """k-nearest-neighbour classification accuracy (percent) by cosine similarity.

    Each query takes the majority label among its ``k`` most similar gallery items (stable order; ties in the
    vote go to the smallest label). Gallery items with a negative (unknown) label, or ``mask`` False, are
    excluded; queries with a negative label are skipped. Returns NaN when no query has a label.
    """
    report = ranking_report(cosine_scores(query, gallery), mask, query_labels=query_labels,
                            gallery_labels=gallery_labels, knn_k=k)
    return report[f"knn@{k}"]
