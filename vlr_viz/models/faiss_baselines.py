"""The simple baselines for compact codes: FAISS product quantisation (PQ) and optimised PQ (OPQ) of float
embeddings, trained without any network.

``faiss.IndexPQ(d, M, 8)`` learns ``M`` sub-codebooks of 256 codewords by k-means (Jégou et al., TPAMI 2011);
OPQ (Ge et al., CVPR 2013) first learns an orthogonal rotation ``R`` (``faiss.OPQMatrix``, FAISS's defaults: 50
alternations) so that the rotated vectors quantise better. Both are trained on the training split's embeddings of
the common space (images and captions together) and searched with float queries: ``score(q, code) =
<R q, decode(code)>`` (``R`` = identity for PQ), which is the code search of :mod:`vlr_viz.eval.codes` applied to
the rotated queries. Nothing is re-implemented: FAISS trains and encodes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..arrays import numeric_matrix
from .faiss_export import _faiss, faiss_threads

KINDS = ("faiss_pq", "faiss_opq")


@dataclass
class FaissCodes:
    """A trained FAISS product quantiser.

    Attributes:
        kind: ``"faiss_pq"`` or ``"faiss_opq"``.
        index: the trained (empty) FAISS index: ``IndexPQ``, or ``IndexPreTransform(OPQMatrix, IndexPQ)``.
        rotation: ``(d, d)`` OPQ rotation ``R`` (``None`` for PQ).
        codebooks: ``(M, 256, d/M)`` float32 codebooks (in the rotated space for OPQ).
        seconds: how long FAISS trained it.
    """

    kind: str
    index: object
    rotation: np.ndarray | None
    codebooks: np.ndarray
    seconds: float = 0.0

    @property
    def bits(self) -> int:
        return 8 * self.codebooks.shape[0]

    def transform(self, x) -> np.ndarray:
        """Queries in the codebooks' space: ``R x`` for OPQ, ``x`` for PQ (float32 ``(N, d)``)."""
        x = numeric_matrix(x, "x", np.float32)
        return x if self.rotation is None else x @ self.rotation.T

    def encode(self, x) -> np.ndarray:
        """``(N, M)`` uint8 codes of float vectors ``(N, d)`` (FAISS ``sa_encode``)."""
        return self.index.sa_encode(np.ascontiguousarray(numeric_matrix(x, "x", np.float32)))


def train_faiss_codes(train_vectors, bits: int, kind: str = "faiss_pq", threads: int | None = None) -> FaissCodes:
    """Train FAISS PQ (``kind="faiss_pq"``) or OPQ + PQ (``"faiss_opq"``) with 8-bit codewords on ``train_vectors``.

    Args:
        train_vectors: float ``(N, d)`` training embeddings (``N >= 256``), e.g. the training split's images and
            captions of the common space, stacked.
        bits: code length; must be ``M · 8`` with ``M`` dividing ``d``.
        kind: one of :data:`KINDS`.
        threads: FAISS threads while training (``None``: FAISS's setting).
    Raises:
        ValueError naming ``bits`` / ``kind`` / ``train_vectors``.
    """
    faiss = _faiss()
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    x = np.ascontiguousarray(numeric_matrix(train_vectors, "train_vectors", np.float32))
    d = x.shape[1]
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits <= 0 or bits % 8:
        raise ValueError(f"bits = {bits!r}: FAISS PQ with 8-bit codewords needs bits = M·8")
    m = int(bits) // 8
    if d % m:
        raise ValueError(f"bits = {bits} needs M = {m} sub-vectors, which do not divide the dimension {d}")
    if len(x) < 256:
        raise ValueError(f"train_vectors: k-means of 256 codewords needs at least 256 vectors, got {len(x)}")
    pq = faiss.IndexPQ(d, m, 8, faiss.METRIC_INNER_PRODUCT)
    pq.pq.cp.min_points_per_centroid = 1  # a few thousand training vectors are enough here: no warning
    index = pq
    if kind == "faiss_opq":
        opq = faiss.OPQMatrix(d, m)
        opq_pq = faiss.ProductQuantizer(d, m, 8)  # the PQ that OPQ alternates with, quiet like the one above
        opq_pq.cp.min_points_per_centroid = 1
        opq.pq = opq_pq
        index = faiss.IndexPreTransform(opq, pq)
    t0 = time.perf_counter()
    with faiss_threads(threads):
        index.train(x)
    return codes_of_index(kind, index, time.perf_counter() - t0)


def codes_of_index(kind: str, index, seconds: float) -> FaissCodes:
    """The `FaissCodes` of a trained index (`train_faiss_codes`'s layout), its rotation and codebooks read out."""
    faiss = _faiss()
    rotation, pq = None, index
    if kind == "faiss_opq":
        rotation = faiss.vector_to_array(faiss.downcast_VectorTransform(index.chain.at(0)).A).reshape(index.d,
                                                                                                   index.d)
        pq = faiss.downcast_index(index.index)
    m = pq.pq.M
    codebooks = faiss.vector_to_array(pq.pq.centroids).reshape(m, 256, pq.d // m).copy()
    return FaissCodes(kind, index, rotation, codebooks, seconds)
