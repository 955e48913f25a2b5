"""Serve product-quantised codes with FAISS: codebooks + gallery codes → ``faiss.IndexPQ`` / ``IndexPQFastScan``.

A vlr_viz code (or any PQ code) is one codeword index per sub-codebook; its vector is the concatenation of the
chosen codewords, and inner-product search of a float query ``q`` scores ``Σ_m <q_m, C_m[code_m]>``
(asymmetric distance computation, see :mod:`vlr_viz.models.quantizer` and docs/codes.md). FAISS computes exactly
this with ``faiss.IndexPQ(d, M, 8, METRIC_INNER_PRODUCT)`` once its ``pq.centroids`` hold the codebooks and its
codes the gallery, so a trained model is served without re-encoding anything:

- ``K = 256`` codewords (``bits = M · 8``): ``IndexPQ`` with exact float lookup tables: the same scores, hence
  the same ranking, as vlr_viz's own ADC;
- ``K = 16`` (``bits = M · 4``) with ``fast_scan=True``: ``IndexPQFastScan`` (SIMD, lookup tables quantised to
  8 bits: approximate scores, much faster on large galleries).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np

_FAISS_HINT = "faiss is needed here: pip install faiss-cpu"


def _faiss():
    try:
        import faiss
    except ImportError as e:  # pragma: no cover - faiss-cpu is a dependency
        raise ImportError(_FAISS_HINT) from e
    return faiss


@contextmanager
def faiss_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` FAISS (OpenMP) threads, restoring the previous number after (``None``: leave it)."""
    faiss = _faiss()
    if n is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(n))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _numpy(x, dtype=None) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x) if dtype is None else np.ascontiguousarray(x, dtype=dtype)


def _check_export(codebooks: np.ndarray, codes: np.ndarray, fast_scan: bool) -> tuple[int, int, int]:
    if codebooks.ndim != 3 or 0 in codebooks.shape:
        raise ValueError(f"codebooks must have shape (M, K, dim/M), got {codebooks.shape}")
    m, k, sub = codebooks.shape
    bits = m * (k.bit_length() - 1) if k & (k - 1) == 0 else None
    if fast_scan and k != 16:
        raise ValueError(f"fast_scan: faiss.IndexPQFastScan stores 4-bit codewords (K = 16, bits = M·4); these "
                         f"codebooks have K = {k} (M = {m}, bits = {bits})")
    if not fast_scan and k != 256:
        raise ValueError(f"faiss.IndexPQ export takes 8-bit codewords: bits must be M·8 (K = 256); these codebooks "
                         f"have K = {k} codewords in each of M = {m} sub-codebooks (bits = {bits}). Train with "
                         f"num_codewords=256, or K = 16 with fast_scan=True")
    if codes.ndim != 2 or codes.shape[1] != m:
        raise ValueError(f"codes must have shape (G, {m}) (one codeword index per sub-codebook), got {codes.shape}")
    if codes.shape[0] == 0:
        raise ValueError("codes: the gallery is empty (0 items); a FAISS index needs at least one coded item")
    if not np.issubdtype(codes.dtype, np.integer):
        raise TypeError(f"codes must be integers, got {codes.dtype}")
    if codes.min() < 0 or codes.max() >= k:
        raise ValueError(f"codes must lie in [0, {k}), got range [{codes.min()}, {codes.max()}]")
    if not np.all(np.isfinite(codebooks)):
        raise ValueError("codebooks contain NaN or inf")
    return m, k, sub


def faiss_index(codebooks, codes, *, fast_scan: bool = False):
    """A FAISS inner-product index holding ``codes`` ``(G, M)`` under ``codebooks`` ``(M, K, dim/M)``.

    Args:
        codebooks: float ``(M, K, dim/M)`` (tensor or array), e.g. ``ProductQuantizer.codebooks``.
        codes: integer ``(G, M)`` gallery codes, e.g. ``ProductQuantizer.encode(gallery)``.
        fast_scan: ``False`` → ``faiss.IndexPQ`` (K must be 256: bits = M·8); ``True`` →
            ``faiss.IndexPQFastScan`` (K must be 16: bits = M·4).
    Returns:
        the index; ``index.search(queries, k)`` ranks by ``<query, decode(code)>``.
    Raises:
        ValueError naming the parameter: K that the index type cannot store (bits not M·8 for ``IndexPQ``), an
        empty gallery, codes of the wrong width or out of range.

    >>> import numpy as np
    >>> index = faiss_index(np.ones((2, 256, 4), np.float32), np.zeros((3, 2), np.uint8))
    >>> (index.d, index.ntotal, index.pq.M)
    (8, 3, 2)
    """
    faiss = _faiss()
    codebooks, codes = _numpy(codebooks, np.float32), _numpy(codes)
    m, k, sub = _check_export(codebooks, codes, fast_scan)
    nbits = k.bit_length() - 1
    index = faiss.IndexPQ(m * sub, m, nbits, faiss.METRIC_INNER_PRODUCT)
    faiss.copy_array_to_vector(codebooks.ravel(), index.pq.centroids)
    index.is_trained = True
    codes = codes.astype(np.uint8)
    if nbits == 4:  # FAISS packs two 4-bit codes per byte, the first in the low nibble
        codes = np.pad(codes, ((0, 0), (0, m % 2)))
        codes = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)
    index.add_sa_codes(np.ascontiguousarray(codes))
    return faiss.IndexPQFastScan(index) if fast_scan else index


def faiss_search(index, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, ids)``, each ``(Q, k)``, of float ``queries`` ``(Q, d)`` in a FAISS ``index``.

    Raises ValueError when the queries' dimension is not the index's ``d``, when the index is empty or when ``k``
    is not in ``[1, index.ntotal]``.
    """
    q = _numpy(queries, np.float32)
    if q.ndim != 2:
        raise ValueError(f"queries must have shape (Q, {index.d}), got {q.shape}")
    if q.shape[1] != index.d:
        raise ValueError(f"queries have dimension {q.shape[1]} but the FAISS index has d = {index.d}: "
                         "embed the queries with the model whose codes the index holds")
    if index.ntotal == 0:
        raise ValueError("the FAISS index is empty (ntotal = 0): the gallery has no items")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= index.ntotal:
        raise ValueError(f"k must be an int in [1, {index.ntotal}] (gallery size), got {k!r}")
    return index.search(q, int(k))


__all__ = ["faiss_index", "faiss_search", "faiss_threads"]
