"""The arrays kind of the store: teacher features, thumbnails, 2-D layouts, decoded Twemoji images and ROUGE-L
relevance, each one ``.npy`` file keyed by the content hash of its inputs, written atomically, loaded without pickle.

Every entry is ``<cache>/<name>-<key>.npy`` (``allow_pickle=False``) next to a ``.json`` sidecar holding its shape,
dtype, SHA-256 digest and meta. A file whose digest does not match is treated as corrupt: it is reported
(`CorruptCacheWarning`), deleted and recomputed, never silently used. `cached_array` computes or reads back one
entry; `ArrayCache` is the same bound to one folder, the ``cache=`` that the data and evaluation code take (they sit
below the store and never import it); `vlr_viz.store.array_rows.cached_rows` fills a large entry block by block,
resumable after a kill.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic import atomic_write_bytes
from ..errors import CacheError
from ..keys import file_digest
from .locations import default_cache_dir

MMAP_BYTES = 64 << 20
"""Cache entries larger than this (64 MiB) are loaded memory-mapped instead of read into memory."""


class CorruptCacheWarning(UserWarning):
    """A cache entry failed its integrity check and was recomputed."""


class CacheWriteWarning(UserWarning):
    """A computed array could not be stored in the cache (read-only or full disk); it was returned uncached."""


def save_array(path: str | os.PathLike, array: np.ndarray, meta: dict | None = None) -> None:
    """Save ``array`` as ``path`` (.npy) plus ``path.json`` (shape, dtype, digest, meta), both atomically."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    data = buf.getvalue()
    side = {
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "sha256": hashlib.sha256(data).hexdigest(),
        "meta": meta or {},
    }
    atomic_write_bytes(path, data)
    atomic_write_bytes(str(path) + ".json", json.dumps(side, indent=1).encode())


def load_array(path: str | os.PathLike) -> np.ndarray:
    """Load an array written by `save_array` or `cached_rows`; raise ``ValueError`` naming the file when it is
    corrupt. Entries over `MMAP_BYTES` come back memory-mapped read-only (the checksum is still verified)."""
    path = Path(path)
    side_path = Path(str(path) + ".json")
    try:
        side = json.loads(side_path.read_text())
        digest = file_digest(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CacheError(f"cache entry {path} is unreadable: {e}") from e
    _check_sidecar(side, side_path)
    if digest != side["sha256"]:
        raise CacheError(f"cache entry {path} is corrupt: its checksum does not match {side_path.name}")
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r" if path.stat().st_size > MMAP_BYTES else None)
    except (ValueError, OSError, EOFError) as e:
        raise CacheError(f"cache entry {path} is corrupt: {e}") from e
    if list(array.shape) != side["shape"] or str(array.dtype) != side["dtype"]:
        raise CacheError(f"cache entry {path} is corrupt: shape/dtype differ from {side_path.name}")
    return array


def _check_sidecar(side, side_path: Path) -> None:
    """`CacheError` unless ``side`` is the object `save_array` writes: ``sha256`` (str), ``shape`` (list of
    ints), ``dtype`` (str)."""
    ok = (isinstance(side, dict) and isinstance(side.get("sha256"), str) and isinstance(side.get("dtype"), str)
          and isinstance(side.get("shape"), list)
          and all(isinstance(n, int) and not isinstance(n, bool) for n in side["shape"]))
    if not ok:
        raise CacheError(f"cache sidecar {side_path} is corrupt: expected an object with sha256, shape and dtype; "
                         f"got {type(side).__name__} {json.dumps(side)[:60]}")


def entry_path(cache_dir: str | os.PathLike, name: str, key: str) -> Path:
    """Where `cached_array` and `cached_rows` keep the entry ``key`` of ``name`` (its sidecar: ``<path>.json``)."""
    return Path(cache_dir) / f"{name}-{key}.npy"


def entry_meta(path: str | os.PathLike) -> dict:
    """The ``meta`` an entry was saved with (`save_array`); ``{}`` when its sidecar is missing or unreadable."""
    try:
        side = json.loads(Path(str(path) + ".json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    meta = side.get("meta") if isinstance(side, dict) else None
    return meta if isinstance(meta, dict) else {}


def cached_array(
    cache_dir: str | os.PathLike | None,
    name: str,
    key: str,
    compute: Callable[[], np.ndarray],
    meta: dict | None = None,
) -> tuple[np.ndarray, bool]:
    """Return ``(array, hit)``: the cached array for ``key`` or ``compute()``, saved for next time.

    ``cache_dir=None`` disables caching. A corrupt entry (checksum, shape or sidecar) triggers a
    `CorruptCacheWarning`, is removed and recomputed. When the entry cannot be stored (a read-only or full cache
    folder) the computed array is still returned, with a `CacheWriteWarning` naming the entry.
    """
    if cache_dir is None:
        return compute(), False
    path = entry_path(cache_dir, name, key)
    try:
        present = path.exists()
    except OSError as e:  # an unreadable cache folder: compute as if the entry were missing
        warnings.warn(f"cache folder {path.parent} cannot be read ({e}); computing without the cache",
                      CacheWriteWarning, stacklevel=2)
        present = False
    if present and (array := load_or_discard(path)) is not None:
        return array, True
    array = compute()
    try:
        save_array(path, array, meta)
    except OSError as e:
        warnings.warn(f"the computed array could not be stored as cache entry {path} ({e}); it is returned "
                      "uncached and will be computed again next time", CacheWriteWarning, stacklevel=2)
        try:
            if path.exists() and not Path(str(path) + ".json").exists():
                path.unlink()  # an array without its sidecar would read as corrupt next time
        except OSError:
            pass
    return array, False


def load_or_discard(path: Path) -> np.ndarray | None:
    """The entry at ``path``, or ``None`` after a `CorruptCacheWarning` and removing it when it is corrupt (a
    read-only cache keeps it: it is overwritten, or the write warning says why not)."""
    try:
        return load_array(path)
    except ValueError as e:
        warnings.warn(f"{e}; recomputing", CorruptCacheWarning, stacklevel=3)
        for stale in (path, Path(str(path) + ".json")):
            try:
                stale.unlink(missing_ok=True)
            except OSError:
                pass
        return None


@dataclass(frozen=True)
class ArrayCache:
    """`cached_array` bound to one folder: ``cache(name, key, compute, meta)`` is the array, read back or computed
    and stored. The data and evaluation code take one as ``cache=`` (``None``: compute, store nothing)."""

    folder: Path

    def __call__(self, name: str, key: str, compute: Callable[[], np.ndarray], meta: dict | None = None) -> np.ndarray:
        return cached_array(self.folder, name, key, compute, meta)[0]


def array_cache(cache_dir: str | os.PathLike | None = None) -> ArrayCache:
    """The `ArrayCache` of ``cache_dir`` (default: `vlr_viz.store.locations.default_cache_dir`)."""
    return ArrayCache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
