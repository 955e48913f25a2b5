"""Graded relevance for single-modal and mixed retrieval: ROUGE-L between captions, and category agreement.

ROUGE-L (Lin, ACL Workshop 2004) is the F-measure of the longest common subsequence (LCS) of two token
sequences, ``F = 2PR / (P + R)``, ``P = LCS / len(candidate)``, ``R = LCS / len(reference)``, as computed by the
``rouge-score`` package (``RougeScorer(["rougeL"])``, its tokenizer, its LCS table and F-measure). TERAN
(Messina et al., TOMM 2021) introduced it as the relevance of an image to a caption-query for NDCG.

Speed: two captions with no token in common have ROUGE-L 0, so only pairs found by a sparse token-incidence
product are scored, and the LCS of a pair equals the LCS of both sequences restricted to their shared tokens,
which repeat often and are scored once.
"""
from __future__ import annotations

from importlib.metadata import version

import numpy as np
import scipy.sparse as sp
from rouge_score import rouge_scorer, scoring

from vlr_viz.cache import cached_array, content_hash

RELEVANCE_VERSION = 1
REDUCTIONS = ("max", "mean")


def rouge_tokens(captions, use_stemmer: bool = False) -> list[list[str]]:
    """Tokens of each caption by the ``rouge-score`` tokenizer (lower-cased alphanumeric words)."""
    tokenizer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)._tokenizer
    return [tokenizer.tokenize(c) for c in captions]


def _incidence(tokens: list[list[str]], vocab: dict) -> sp.csr_matrix:
    rows, cols = [], []
    for i, t in enumerate(tokens):
        ids = {vocab.setdefault(w, len(vocab)) for w in t}
        rows.extend([i] * len(ids))
        cols.extend(ids)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(tokens), len(vocab)))


def rouge_l_matrix(captions_a, captions_b=None, use_stemmer: bool = False) -> np.ndarray:
    """``(len(a), len(b))`` float32 ROUGE-L F-measure of every caption pair (``b`` defaults to ``a``)."""
    tok_a = rouge_tokens(captions_a, use_stemmer)
    tok_b = tok_a if captions_b is None else rouge_tokens(captions_b, use_stemmer)
    vocab: dict = {}
    inc_a = _incidence(tok_a, vocab)
    inc_b = _incidence(tok_b, vocab)
    inc_a.resize((len(tok_a), len(vocab)))
    candidates = (inc_a @ inc_b.T).tocoo()
    rows, cols = candidates.row, candidates.col
    if captions_b is None:  # symmetric: score each unordered pair once
        keep = rows <= cols
        rows, cols = rows[keep], cols[keep]
    set_a = [set(t) for t in tok_a]
    set_b = set_a if captions_b is None else [set(t) for t in tok_b]
    lcs_of: dict = {}
    values = np.empty(len(rows), np.float32)
    for n, (i, j) in enumerate(zip(rows.tolist(), cols.tolist())):
        a = tuple(w for w in tok_a[i] if w in set_b[j])
        b = tuple(w for w in tok_b[j] if w in set_a[i])
        lcs = lcs_of.get((a, b))
        if lcs is None:
            lcs = lcs_of[(a, b)] = rouge_scorer._lcs_table(a, b)[-1][-1]
        values[n] = scoring.fmeasure(lcs / len(tok_b[j]), lcs / len(tok_a[i]))
    out = np.zeros((len(tok_a), len(tok_b)), np.float32)
    out[rows, cols] = values
    if captions_b is None:
        out[cols, rows] = values
    return out


def aggregate_to_images(rel: np.ndarray, caption_to_image, n_images: int, reduce: str = "max") -> np.ndarray:
    """``(Q, n_images)``: reduce the caption columns of ``rel`` over each image's captions (max or mean)."""
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}; got {reduce!r}")
    c2i = np.asarray(caption_to_image, dtype=np.int64)
    if c2i.shape != (rel.shape[1],) or c2i.min() < 0 or c2i.max() >= n_images:
        raise ValueError(f"caption_to_image must map each of {rel.shape[1]} captions to an image < {n_images}")
    counts = np.bincount(c2i, minlength=n_images)
    if (counts == 0).any():
        raise ValueError(f"caption_to_image: image {int(np.flatnonzero(counts == 0)[0])} has no caption")
    if reduce == "mean":
        one_hot = sp.csr_matrix((np.ones(c2i.size, np.float32), (np.arange(c2i.size), c2i)), (c2i.size, n_images))
        return np.asarray((one_hot.T @ rel.T).T / counts, dtype=np.float32)
    order = np.argsort(c2i, kind="stable")
    return np.maximum.reduceat(rel[:, order], np.searchsorted(c2i[order], np.arange(n_images)), axis=1)


def rouge_relevance(
    query_captions,
    gallery_captions,
    gallery_to_image=None,
    n_images: int | None = None,
    *,
    reduce: str = "max",
    use_stemmer: bool = False,
    cache_dir=None,
) -> np.ndarray:
    """ROUGE-L relevance of each query caption to each gallery caption, or to each gallery image.

    Args:
        query_captions: ``Q`` caption strings.
        gallery_captions: ``G`` caption strings.
        gallery_to_image: optional ``(G,)`` image of each gallery caption; when given, the result has one column
            per image, reducing over the image's captions by ``reduce``.
        n_images: number of images (default ``max(gallery_to_image) + 1``).
        reduce: ``"max"`` (default: an image is as relevant as its closest caption) or ``"mean"`` (TERAN).
        use_stemmer: Porter stemming in the ``rouge-score`` tokenizer.
        cache_dir: cache folder for `vlr_viz.cache.cached_array` (None: no cache).

    Returns:
        float32 ``(Q, G)`` or ``(Q, n_images)`` in ``[0, 1]``.
    """
    query_captions, gallery_captions = list(query_captions), list(gallery_captions)
    for name, caps in (("query_captions", query_captions), ("gallery_captions", gallery_captions)):
        if not caps or not all(isinstance(c, str) for c in caps):
            raise ValueError(f"{name} must be a non-empty list of strings")
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}; got {reduce!r}")
    c2i = None if gallery_to_image is None else np.asarray(gallery_to_image, dtype=np.int64)
    if c2i is not None and n_images is None:
        n_images = int(c2i.max()) + 1
    same = query_captions == gallery_captions

    def compute() -> np.ndarray:
        rel = rouge_l_matrix(query_captions, None if same else gallery_captions, use_stemmer)
        return rel if c2i is None else aggregate_to_images(rel, c2i, n_images, reduce)

    key = content_hash(query_captions, gallery_captions, c2i, n_images, reduce, use_stemmer,
                       "rougeL", RELEVANCE_VERSION, version("rouge-score"))
    return cached_array(cache_dir, "rougeL-relevance", key, compute, {"reduce": reduce})[0]


def caption_image_relevance(pairs, *, reduce: str = "max", use_stemmer: bool = False, cache_dir=None) -> np.ndarray:
    """``(M, N)`` float32: ``rel[c, j]`` = ROUGE-L of caption ``c`` against image ``j``'s captions (max or mean)."""
    return rouge_relevance(pairs.captions, pairs.captions, pairs.txt_to_img, pairs.n_images,
                           reduce=reduce, use_stemmer=use_stemmer, cache_dir=cache_dir)


def category_relevance(labels_query, labels_gallery) -> np.ndarray:
    """``(Q, G)`` bool: same category, both known (label ``>= 0``)."""
    q = np.asarray(labels_query, dtype=np.int64)
    g = np.asarray(labels_gallery, dtype=np.int64)
    if q.ndim != 1 or g.ndim != 1:
        raise ValueError("labels_query and labels_gallery must be 1-D label arrays")
    return (q[:, None] == g[None, :]) & (q[:, None] >= 0) & (g[None, :] >= 0)
