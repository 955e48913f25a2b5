"""Graded relevance for single-modal and mixed retrieval: ROUGE-L between captions, and category agreement.

ROUGE-L (Lin, ACL Workshop 2004) is the F-measure of the longest common subsequence (LCS) of two token
sequences, ``F = 2PR / (P + R)``, ``P = LCS / len(candidate)``, ``R = LCS / len(reference)``, as computed by the
``rouge-score`` package (``RougeScorer(["rougeL"])``, its tokenizer, its LCS table and F-measure). TERAN
(Messina et al., TOMM 2021) introduced it as the relevance of an image to a caption-query for NDCG.

Speed: captions are tokenised once, identical token sequences are scored once, and the LCS of every remaining
query × gallery pair is computed by the compiled bit-parallel kernel of `vlr_viz.eval.lcs` (identical values to
``rouge-score``; 25k × 25k COCO-size captions take minutes, not hours), reduced to images inside the loop.
"""
from __future__ import annotations

from importlib.metadata import version

import numba
import numpy as np
from rouge_score import rouge_scorer

from vlr_viz.keys import content_hash

RELEVANCE_VERSION = 2
RELEVANCE_ENTRY = "rougeL-relevance"
"""The name of a relevance matrix's store entry (``<cache>/rougeL-relevance-<key>.npy``)."""
REDUCTIONS = ("max", "mean")


def rouge_tokens(captions, use_stemmer: bool = False) -> list[list[str]]:
    """Tokens of each caption by the ``rouge-score`` tokenizer (lower-cased alphanumeric words)."""
    tokenizer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)._tokenizer
    return [tokenizer.tokenize(c) for c in captions]


def _sequences(tokens: list[list[str]], vocab: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique token-id sequences as CSR ``(tok, off)`` and, per input, the index of its unique sequence."""
    index: dict[tuple, int] = {}
    inverse = np.empty(len(tokens), np.int64)
    for i, t in enumerate(tokens):
        inverse[i] = index.setdefault(tuple(vocab.setdefault(w, len(vocab)) for w in t), len(index))
    seqs = list(index)
    off = np.zeros(len(seqs) + 1, np.int64)
    off[1:] = np.cumsum([len(q) for q in seqs])
    tok = np.fromiter((w for q in seqs for w in q), np.int64, count=int(off[-1]))
    return tok, off, inverse


def rouge_to_images(query_captions, gallery_captions, gallery_to_image, n_images: int, reduce: str = "max",
                    use_stemmer: bool = False) -> np.ndarray:
    """``(len(query_captions), n_images)`` float32: ROUGE-L of each query against each image's gallery captions,
    reduced by ``reduce`` (max or mean); the compiled kernel of `vlr_viz.eval.lcs`."""
    from vlr_viz.eval.lcs import rouge_to_images as kernel

    vocab: dict = {}
    q_tok, q_off, q_inv = _sequences(rouge_tokens(query_captions, use_stemmer), vocab)
    g_tok, g_off, g_inv = _sequences(rouge_tokens(gallery_captions, use_stemmer), vocab)
    c2i = np.asarray(gallery_to_image, dtype=np.int64)
    order = np.lexsort((c2i, g_inv))  # gallery captions grouped by their unique sequence
    img_ptr = np.searchsorted(g_inv[order], np.arange(len(g_off)), side="left").astype(np.int64)
    counts = np.bincount(c2i, minlength=n_images).astype(np.float64)
    rel = kernel(q_tok, q_off, g_tok, g_off, img_ptr, c2i[order], int(n_images), max(len(vocab), 1),
                 reduce == "mean", np.maximum(counts, 1.0), 4 * numba.get_num_threads())
    return rel[q_inv]


def rouge_l_matrix(captions_a, captions_b=None, use_stemmer: bool = False) -> np.ndarray:
    """``(len(a), len(b))`` float32 ROUGE-L F-measure of every caption pair (``b`` defaults to ``a``)."""
    captions_b = captions_a if captions_b is None else captions_b
    return rouge_to_images(captions_a, captions_b, np.arange(len(captions_b)), len(captions_b), "max", use_stemmer)


def rouge_relevance(
    query_captions,
    gallery_captions,
    gallery_to_image=None,
    n_images: int | None = None,
    *,
    reduce: str = "max",
    use_stemmer: bool = False,
    cache=None,
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
        cache: where the matrix is read back or kept (``cache(name, key, compute, meta)``, e.g.
            `vlr_viz.store.arrays.array_cache`; the evaluation code sits below the store); None: computed.

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

    def compute() -> np.ndarray:
        if c2i is None:
            return rouge_l_matrix(query_captions, gallery_captions, use_stemmer)
        if c2i.shape != (len(gallery_captions),) or c2i.min() < 0 or c2i.max() >= n_images:
            raise ValueError(f"gallery_to_image must map each of {len(gallery_captions)} captions to an image "
                             f"< {n_images}")
        empty = np.flatnonzero(np.bincount(c2i, minlength=n_images) == 0)
        if empty.size:
            raise ValueError(f"gallery_to_image: image {int(empty[0])} has no caption")
        return rouge_to_images(query_captions, gallery_captions, c2i, n_images, reduce, use_stemmer)

    if cache is None:
        return compute()
    key = content_hash(query_captions, gallery_captions, c2i, n_images, reduce, use_stemmer,
                       "rougeL", RELEVANCE_VERSION, version("rouge-score"))
    return cache(RELEVANCE_ENTRY, key, compute, {"reduce": reduce})


def caption_image_relevance(pairs, *, reduce: str = "max", use_stemmer: bool = False, cache=None) -> np.ndarray:
    """``(M, N)`` float32: ``rel[c, j]`` = ROUGE-L of caption ``c`` against image ``j``'s captions (max or mean)."""
    return rouge_relevance(pairs.captions, pairs.captions, pairs.txt_to_img, pairs.n_images,
                           reduce=reduce, use_stemmer=use_stemmer, cache=cache)


def category_relevance(labels_query, labels_gallery) -> np.ndarray:
    """``(Q, G)`` bool: same category, both known (label ``>= 0``)."""
    q = np.asarray(labels_query, dtype=np.int64)
    g = np.asarray(labels_gallery, dtype=np.int64)
    if q.ndim != 1 or g.ndim != 1:
        raise ValueError("labels_query and labels_gallery must be 1-D label arrays")
    return (q[:, None] == g[None, :]) & (q[:, None] >= 0) & (g[None, :] >= 0)
