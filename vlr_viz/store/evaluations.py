"""Evaluations read back instead of recomputed: `stored_evaluate` is `vlr_viz.eval.evaluate` through a store on disk.

An evaluation is a pure function of the embeddings, what it reads of the test pairs (the captions' images, labels,
near-duplicate families, caption texts), the relevance matrix, the teachers' features and the options, plus the
evaluation code; `EVALUATION_CODE_VERSION` changes whenever that code computes something else. The content hash of
all of them names a JSON file under ``evaluations/`` of the run store (`.locations.default_store_dir`), so
a warm report ranks nothing, ``vlr-viz runs rm --all`` clears evaluations with the runs, and a test session's
private run store keeps its evaluations private too. Entries are `vlr_viz.store.tables` files: written
atomically, exact, and recomputed (with a warning) when damaged.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..eval import codes
from ..eval.evaluate import evaluate
from ..keys import content_hash
from .locations import default_store_dir
from .tables import stored_table

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
    return default_store_dir() / "evaluations"


def stored_evaluate(img_emb, txt_emb, pairs, *, store_dir=None, **options) -> pd.DataFrame:
    """`vlr_viz.eval.evaluate` (same arguments) read from ``store_dir`` (default `default_evaluation_dir`) when it
    was computed before, else computed and stored (`vlr_viz.store.tables.stored_table`). ``options["cache"]``
    only says where relevance is cached (`vlr_viz.store.arrays.ArrayCache`) and does not key the entry."""
    folder = Path(store_dir) if store_dir is not None else default_evaluation_dir()
    key = evaluation_key(img_emb, txt_emb, pairs, **{k: v for k, v in options.items() if k != "cache"})
    return stored_table(folder / f"{key}.json", lambda: evaluate(img_emb, txt_emb, pairs, **options))


def stored_code_retrieval_metrics(image_queries, text_queries, image_codes, text_codes, codebooks, txt_to_img,
                                  image_labels, ks=(1, 5, 10), map_ks=(50,), *, store_dir=None) -> dict[str, float]:
    """`vlr_viz.eval.codes.code_retrieval_metrics` (same arguments) read from ``store_dir`` (default ``codes/`` in
    `default_evaluation_dir`) when the same queries, codes and codebooks were evaluated before, else computed and
    stored; exact, as `stored_evaluate`."""
    arrays = [_array(x) for x in (image_queries, text_queries, image_codes, text_codes, codebooks, txt_to_img,
                                  image_labels)]
    key = content_hash("code-metrics", EVALUATION_CODE_VERSION, *arrays, list(ks), list(map_ks))
    folder = Path(store_dir) if store_dir is not None else default_evaluation_dir() / "codes"

    def compute() -> pd.DataFrame:
        metrics = codes.code_retrieval_metrics(image_queries, text_queries, image_codes, text_codes, codebooks,
                                               txt_to_img, image_labels, ks, map_ks)
        return pd.DataFrame([metrics])

    return stored_table(folder / f"{key}.json", compute).iloc[0].to_dict()
