"""Array entries filled row block by row block (teacher features of a large dataset), resumable after a kill: the
rows go into ``<entry>.partial``, the rows done into ``<entry>.progress.json``, and only a whole array becomes the
entry (`vlr_viz.store.arrays`: same file, same sidecar)."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..atomic import atomic_write_bytes
from ..keys import file_digest
from .arrays import CacheWriteWarning, load_or_discard, entry_path, load_array


def _read_progress(progress_path: Path, expect: dict) -> int:
    """Rows already written by an interrupted fill whose settings equal ``expect``; 0 when there is none."""
    try:
        state = json.loads(progress_path.read_text())
    except (OSError, json.JSONDecodeError):
        return 0
    if not isinstance(state, dict) or {k: state.get(k) for k in expect} != expect:
        return 0
    done = state.get("rows_done")
    return done if isinstance(done, int) and 0 <= done <= expect["n_rows"] else 0


def cached_rows(
    cache_dir: str | os.PathLike | None,
    name: str,
    key: str,
    n_rows: int,
    row_shape: tuple[int, ...],
    blocks: Callable[[int], Iterable[np.ndarray]],
    meta: dict | None = None,
    dtype=np.float32,
    commit_rows: int = 4096,
    resume_token: str = "",
) -> tuple[np.ndarray, bool]:
    """``(array, hit)`` for an ``(n_rows, *row_shape)`` array computed block by block, resumable after a kill.

    ``blocks(start)`` yields consecutive row blocks from row ``start`` to the end. While it runs, the rows go into
    ``<entry>.partial`` (a memory-mapped ``.npy``) and, after every ``commit_rows`` rows or more, the number of
    rows on disk goes into ``<entry>.progress.json`` (written atomically after the rows are flushed). A later call
    with the same ``key``, shape, dtype and ``resume_token`` (e.g. the batch size, so resumed batches equal the
    uninterrupted ones) continues from the last committed row. Only a complete array becomes the entry: its
    checksum sidecar is written first, then the partial file is renamed into place, so an interrupted fill never
    reads as complete. A lock file serialises processes filling the same entry. ``cache_dir=None``: no cache.
    """
    def compute_in_memory() -> np.ndarray:
        out = np.empty((n_rows, *row_shape), dtype=dtype)
        done = 0
        for block in blocks(0):
            out[done:done + len(block)] = block
            done += len(block)
        if done != n_rows:
            raise RuntimeError(f"{name}: computed {done} rows, expected {n_rows}")
        return out

    if cache_dir is None:
        return compute_in_memory(), False
    import fcntl

    from numpy.lib.format import open_memmap

    path = entry_path(cache_dir, name, key)
    if path.exists() and (array := load_or_discard(path)) is not None:
        return array, True
    partial, progress = Path(str(path) + ".partial"), Path(str(path) + ".progress.json")
    expect = {"key": key, "n_rows": int(n_rows), "row_shape": list(row_shape), "dtype": np.dtype(dtype).str,
              "resume_token": resume_token}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(str(path) + ".lock", "a")
    except OSError as e:
        warnings.warn(f"cache entry {path} cannot be written ({e}); the array is computed in memory, returned "
                      "uncached and will be computed again next time", CacheWriteWarning, stacklevel=2)
        return compute_in_memory(), False
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():  # another process finished it while we waited
            return load_array(path), True
        start = _read_progress(progress, expect) if partial.exists() else 0
        array = (open_memmap(partial, mode="r+") if start else
                 open_memmap(partial, mode="w+", dtype=dtype, shape=(n_rows, *row_shape)))
        if array.shape != (n_rows, *row_shape) or array.dtype != np.dtype(dtype):
            raise ValueError(f"{partial} does not hold a {(n_rows, *row_shape)} {np.dtype(dtype)} array")
        done, committed = start, start
        for block in blocks(start):
            array[done:done + len(block)] = block
            done += len(block)
            if done - committed >= commit_rows or done == n_rows:
                array.flush()
                atomic_write_bytes(progress, json.dumps({**expect, "rows_done": done}).encode())
                committed = done
        array.flush()
        del array
        if done != n_rows:
            raise RuntimeError(f"{name}: computed {done} rows, expected {n_rows}")
        side = {"shape": [int(n_rows), *map(int, row_shape)], "dtype": str(np.dtype(dtype)),
                "sha256": file_digest(partial), "meta": meta or {}}
        atomic_write_bytes(str(path) + ".json", json.dumps(side, indent=1).encode())
        os.replace(partial, path)
        progress.unlink(missing_ok=True)
    return load_array(path), False
