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
from typing import Callable

import numpy as np

from .errors import CacheError


def default_cache_dir() -> Path:
    """``$VLR_VIZ_CACHE``, else ``data/cache`` of the source checkout, else ``~/.cache/vlr_viz``."""
    if os.environ.get("VLR_VIZ_CACHE"):
        return Path(os.environ["VLR_VIZ_CACHE"])
    checkout_data = Path(__file__).resolve().parents[1] / "data"
    if (checkout_data / "README.md").exists():
        return checkout_data / "cache"
    return Path.home() / ".cache" / "vlr_viz"


class CorruptCacheWarning(UserWarning):
    """A cache entry failed its integrity check and was recomputed."""


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
    """Load an array written by `save_array`; raise ``ValueError`` naming the file when it is corrupt."""
    path = Path(path)
    side_path = Path(str(path) + ".json")
    try:
        side = json.loads(side_path.read_text())
        data = path.read_bytes()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CacheError(f"cache entry {path} is unreadable: {e}") from e
    _check_sidecar(side, side_path)
    if hashlib.sha256(data).hexdigest() != side["sha256"]:
        raise CacheError(f"cache entry {path} is corrupt: its checksum does not match {side_path.name}")
    import io

    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
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
    path = Path(cache_dir) / f"{name}-{key}.npy"
    try:
        present = path.exists()
    except OSError as e:  # an unreadable cache folder: compute as if the entry were missing
        warnings.warn(f"cache folder {path.parent} cannot be read ({e}); computing without the cache",
                      CacheWriteWarning, stacklevel=2)
        present = False
    if present:
        try:
            return load_array(path), True
        except ValueError as e:
            warnings.warn(f"{e}; recomputing", CorruptCacheWarning, stacklevel=2)
            for stale in (path, Path(str(path) + ".json")):
                try:
                    stale.unlink(missing_ok=True)
                except OSError:
                    pass  # a read-only cache: the entry is overwritten below, or the write warning says why not
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
