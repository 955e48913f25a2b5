"""Tables read back instead of recomputed: `stored_table` keeps a pandas DataFrame that is a pure function of its
inputs as one JSON file, named by the content hash of those inputs.

The evaluations of `vlr_viz.store.evaluations` and the analyses of the rebalancing report
(`vlr_viz.experiments.study_analysis`: the paired bootstrap, the reliability λ sweep, the λ landscape, the run
summary, the NDCG conventions) go through it, so a warm report recomputes none of them. Analyses live under
``analyses/<kind>/`` of the run store (`.locations.default_store_dir`), so ``vlr-viz runs rm --all``
clears them with the runs and a test session's private run store keeps them private.

An entry holds its key, the column names, the frame's ``attrs`` and its rows. It is written atomically; one that
does not parse or belongs to another key is reported (`.arrays.CorruptCacheWarning`) and recomputed. Values
round-trip exactly: JSON floats are written shortest-repr, NaN included; integer, float, bool and string columns
come back with the same dtype.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Callable

import pandas as pd

from ..atomic import atomic_write_bytes
from ..keys import content_hash
from .arrays import CorruptCacheWarning
from .locations import default_store_dir

ANALYSES = "analyses"
"""The run store's folder of stored analyses (one sub-folder per kind)."""


def analysis_path(kind: str, version: str, *parts, store_dir=None) -> Path:
    """Where the analysis ``kind`` of the inputs ``parts`` (arrays, strings, numbers, nested lists / dicts;
    `vlr_viz.keys.content_hash`) is stored: ``<run store>/analyses/<kind>/<key>.json``. ``version`` changes
    whenever the code of ``kind`` computes something else for the same inputs."""
    root = Path(store_dir) if store_dir is not None else default_store_dir() / ANALYSES
    return root / kind / f"{content_hash('analysis', kind, version, *parts)}.json"


def stored_table(path: str | Path, compute: Callable[[], pd.DataFrame], key: str | None = None) -> pd.DataFrame:
    """The frame stored at ``path`` when there is a sound one, else ``compute()``, stored there and returned.

    ``key`` (default: the file name without ``.json``) is written into the entry and checked on reading."""
    path = Path(path)
    key = path.stem if key is None else key
    if path.is_file():
        try:
            return _read(path, key)
        except (ValueError, KeyError, TypeError, OSError) as e:
            warnings.warn(f"stored table {path} is damaged ({e}); it is computed again", CorruptCacheWarning,
                          stacklevel=2)
    df = compute()
    entry = {"key": key, "columns": [str(c) for c in df.columns], "dtypes": [str(t) for t in df.dtypes],
             "attrs": dict(df.attrs), "rows": df.to_dict("records")}
    atomic_write_bytes(path, json.dumps(entry).encode())
    return df


def _read(path: Path, key: str) -> pd.DataFrame:
    entry = json.loads(path.read_text())
    if entry["key"] != key:
        raise ValueError(f"it holds key {entry['key']}")
    columns = entry.get("columns")
    df = pd.DataFrame(entry["rows"], columns=columns)
    for column, dtype in zip(columns or [], entry.get("dtypes", [])):
        if str(df[column].dtype) != dtype:
            df[column] = df[column].astype(dtype)
    df.attrs.update(entry["attrs"])
    return df
