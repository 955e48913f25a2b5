"""FAISS quantisers read back instead of trained: `stored_faiss_codes` is
`vlr_viz.models.faiss_baselines.train_faiss_codes` through the run store's ``faiss/`` folder, an array entry
(`.arrays.cached_array`) of the index's ``faiss.serialize_index`` bytes."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..arrays import numeric_matrix
from ..keys import content_hash
from ..models import faiss_baselines
from ..models.faiss_baselines import FaissCodes
from ..models.faiss_export import _faiss
from .arrays import cached_array, entry_meta, entry_path
from .entry import StoredRunWarning
from .locations import default_store_dir


def _stored_codes(kind: str, bits: int, dim: int, data: np.ndarray, meta: dict) -> FaissCodes:
    """The `FaissCodes` of a stored entry, after checking that its bytes deserialise to a trained quantiser of
    ``kind``, ``bits`` and ``dim`` (`vlr_viz.models.faiss_baselines.train_faiss_codes`'s layout); ``ValueError``
    saying what is wrong otherwise."""
    faiss = _faiss()
    if data.dtype != np.uint8 or data.ndim != 1:
        raise ValueError(f"the entry holds {data.dtype} {data.shape}, not the bytes of a FAISS index")
    try:
        index = faiss.deserialize_index(np.ascontiguousarray(data))
    except RuntimeError as e:
        raise ValueError(f"the bytes are no FAISS index: {str(e).splitlines()[-1]}") from None
    expected = faiss.IndexPreTransform if kind == "faiss_opq" else faiss.IndexPQ
    if not isinstance(index, expected) or (kind == "faiss_opq" and not (
            index.chain.size() == 1  # the rotation reads back as a LinearTransform, OPQMatrix's base
            and isinstance(faiss.downcast_VectorTransform(index.chain.at(0)), faiss.LinearTransform)
            and isinstance(faiss.downcast_index(index.index), faiss.IndexPQ))):
        raise ValueError(f"the index is a {type(index).__name__}, not the quantiser of {kind}")
    codes = faiss_baselines.codes_of_index(kind, index, 0.0)
    if index.d != dim or codes.bits != bits or not index.is_trained:
        raise ValueError(f"the index quantises {index.d}-d vectors with {codes.bits} bits, not {dim}-d with {bits}")
    seconds = meta.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError(f"its seconds are {seconds!r}, not a number")
    codes.seconds = float(seconds)
    return codes


def stored_faiss_codes(train_vectors, bits: int, kind: str = "faiss_pq", threads: int | None = None,
                       store_dir=None) -> FaissCodes:
    """`vlr_viz.models.faiss_baselines.train_faiss_codes`, read back from the run store's ``faiss/`` folder when the
    same vectors were quantised the same way before (keyed by their content, ``bits``, ``kind``, ``threads`` and the
    FAISS version; the index is kept as ``faiss.serialize_index`` bytes, checksummed like every cache entry:
    `.arrays.cached_array`). An entry whose bytes are no quantiser of these settings (damaged behind its checksum)
    is reported (`.entry.StoredRunWarning`), removed and trained again."""
    faiss = _faiss()
    x = np.ascontiguousarray(numeric_matrix(train_vectors, "train_vectors", np.float32))
    key = content_hash("faiss-codes", faiss.__version__, x, int(bits), kind, threads)
    folder = default_store_dir() / "faiss" if store_dir is None else Path(store_dir)
    name = f"{kind}-{int(bits)}"
    meta = {}

    def train() -> np.ndarray:
        codes = faiss_baselines.train_faiss_codes(x, bits, kind, threads)
        meta["seconds"] = codes.seconds  # written into the entry's sidecar after this returns
        return faiss.serialize_index(codes.index)

    data, hit = cached_array(folder, name, key, train, meta=meta)
    if hit:
        path = entry_path(folder, name, key)
        try:
            return _stored_codes(kind, int(bits), x.shape[1], data, entry_meta(path))
        except ValueError as e:
            warnings.warn(f"stored entry {path} is damaged ({e}); it is computed again", StoredRunWarning,
                          stacklevel=2)
            for stale in (path, Path(f"{path}.json")):
                stale.unlink(missing_ok=True)
            data, _ = cached_array(folder, name, key, train, meta=meta)
    index = faiss.deserialize_index(np.ascontiguousarray(data))
    return faiss_baselines.codes_of_index(kind, index, float(meta.get("seconds", 0.0)))
