"""On-disk array cache keyed by content hash, written atomically, loaded without pickle.

Every cached array is a ``.npy`` file (``allow_pickle=False``) next to a ``.json`` sidecar holding its shape,
dtype and SHA-256 digest. A file whose digest does not match is treated as corrupt: it is reported, deleted and
recomputed, never silently used.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .errors import CacheError

MMAP_BYTES = 64 << 20
"""Cache entries larger than this (64 MiB) are loaded memory-mapped instead of read into memory."""


def default_cache_dir() -> Path:
    """``$VLR_VIZ_CACHE``, else ``data/cache`` of the source checkout, else ``~/.cache/vlr_viz``."""
    if os.environ.get("VLR_VIZ_CACHE"):
        return Path(os.environ["VLR_VIZ_CACHE"])
    checkout_data = Path(__file__).resolve().parents[1] / "data"
    if (checkout_data / "README.md").exists():
        return checkout_data / "cache"
    return Path.home() / ".cache" / "vlr_viz"


def default_store_dir() -> Path:
    """The run store and what is computed from runs (`vlr_viz.store.runs`): ``$VLR_VIZ_RUN_STORE`` when set, else
    ``runs/`` in the cache directory (`default_cache_dir`)."""
    return Path(os.environ["VLR_VIZ_RUN_STORE"]) if os.environ.get("VLR_VIZ_RUN_STORE") else \
        default_cache_dir() / "runs"


class CorruptCacheWarning(UserWarning):
    """A cache entry failed its integrity check and was recomputed."""


class StoredRunWarning(UserWarning):
    """A stored entry of the run store (a run, a stage 1, a DCMQ pass, a FAISS quantiser) failed its integrity
    check; it is computed again."""


class CacheWriteWarning(UserWarning):
    """A computed array could not be stored in the cache (read-only or full disk); it was returned uncached."""


def content_hash(*parts) -> str:
    """SHA-256 (hex, 24 chars) over arrays, strings, numbers and nested lists/dicts of them."""
    h = hashlib.sha256()

    def feed(x):
        if isinstance(x, np.ndarray):
            h.update(f"nd{x.dtype.str}{x.shape}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        elif isinstance(x, (list, tuple)):
            h.update(f"L{len(x)}".encode())
            for y in x:
                feed(y)
        elif isinstance(x, dict):
            h.update(f"D{len(x)}".encode())
            for k in sorted(x):
                feed(str(k))
                feed(x[k])
        elif isinstance(x, bytes):
            h.update(b"B" + len(x).to_bytes(8, "little") + x)
        else:
            s = repr(x).encode()
            h.update(b"S" + len(s).to_bytes(8, "little") + s)

    for p in parts:
        feed(p)
    return h.hexdigest()[:24]


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (used to key caches on a weights file)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    if present and (array := _load_or_discard(path)) is not None:
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


def _load_or_discard(path: Path) -> np.ndarray | None:
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
    if path.exists() and (array := _load_or_discard(path)) is not None:
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
