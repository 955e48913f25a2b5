"""Evaluations read back instead of recomputed: `stored_evaluate` is `vlr_viz.eval.evaluate` through a store on disk.

An evaluation is a pure function of the embeddings, what it reads of the test pairs (the captions' images, labels,
near-duplicate families, caption texts), the relevance matrix, the teachers' features and the options, plus the
evaluation code; `EVALUATION_CODE_VERSION` changes whenever that code computes something else. The content hash of
all of them names a JSON file under ``evaluations/`` of the run store (`vlr_viz.train.store.default_store_dir`), so
a warm report ranks nothing, ``vlr-viz runs rm --all`` clears evaluations with the runs, and a test session's
private run store keeps its evaluations private too. Files are written atomically; one that does not parse or
belongs to another key is reported and recomputed. Values round-trip exactly (JSON floats are shortest-repr).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..cache import CorruptCacheWarning, atomic_write_bytes, content_hash
from .evaluate import COLUMNS, evaluate

EVALUATION_CODE_VERSION = "1"
"""Changes whenever `vlr_viz.eval.evaluate` computes something else for the same inputs (it keys every entry)."""


def _array(x) -> np.ndarray | None:
    if x is None:
        return None
    return np.ascontiguousarray(x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x))


def evaluation_key(img_emb, txt_emb, pairs, **options) -> str:
    """The store key of ``evaluate(img_emb, txt_emb, pairs, **options)``."""
    teachers = options.pop("teachers", None) or {}
    return content_hash("evaluation", EVALUATION_CODE_VERSION, _array(img_emb).astype(np.float32),
                        _array(txt_emb).astype(np.float32), pairs.txt_to_img, pairs.labels, pairs.family,
                        pairs.captions, {k: _array(v) for k, v in teachers.items()},
                        _array(options.pop("relevance", None)), options)


def default_evaluation_dir() -> Path:
    """``evaluations/`` inside the run store's folder."""
    from ..train.store import default_store_dir

    return default_store_dir() / "evaluations"


def stored_evaluate(img_emb, txt_emb, pairs, *, store_dir=None, **options) -> pd.DataFrame:
    """`vlr_viz.eval.evaluate` (same arguments) read from ``store_dir`` (default `default_evaluation_dir`) when it
    was computed before, else computed and stored. ``options["cache_dir"]`` only says where relevance is cached
    and does not key the entry."""
    folder = Path(store_dir) if store_dir is not None else default_evaluation_dir()
    key = evaluation_key(img_emb, txt_emb, pairs, **{k: v for k, v in options.items() if k != "cache_dir"})
    path = folder / f"{key}.json"
    if path.is_file():
        try:
            entry = json.loads(path.read_text())
            if entry["key"] != key:
                raise ValueError(f"it holds key {entry['key']}")
            df = pd.DataFrame(entry["rows"], columns=COLUMNS)
            df.attrs.update(entry["attrs"])
            return df
        except (ValueError, KeyError, TypeError, OSError) as e:
            warnings.warn(f"stored evaluation {path} is damaged ({e}); it is computed again", CorruptCacheWarning,
                          stacklevel=2)
    df = evaluate(img_emb, txt_emb, pairs, **options)
    entry = {"key": key, "attrs": dict(df.attrs), "rows": df[COLUMNS].to_dict("records")}
    atomic_write_bytes(path, json.dumps(entry).encode())
    return df
