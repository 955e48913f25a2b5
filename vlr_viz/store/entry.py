"""A folder entry of the store: files written whole under a content key, with a manifest, under a lock.

Runs, stage-1 states and DCMQ passes are folder entries (`vlr_viz.store.runs`, `vlr_viz.store.stage1`,
`vlr_viz.store.dcmq`): `EntryFolder.put_files` writes the files into ``<key>.tmp`` (each atomically,
`vlr_viz.atomic.atomic_write_bytes`), the manifest (size and SHA-256 of each file, `read_entry_files` checks it)
last, then renames the folder into place; `EntryFolder.get_files` reads an entry back checked file by file, and an
entry that fails is reported (`StoredRunWarning`) and removed so that it is computed again.
`entry_lock` serialises two processes computing the same key: the second waits and reads the first one's entry.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..atomic import atomic_write_bytes

MANIFEST = "manifest.json"


class StoredRunWarning(UserWarning):
    """A stored entry of the run store (a run, a stage 1, a DCMQ pass, a FAISS quantiser) failed its integrity
    check; it is computed again."""


def check_manifest(manifest) -> dict:
    """``manifest`` after checking that it is what `EntryFolder.put_files` writes: ``{file name: {"bytes": int,
    "sha256": str}}``, each name a plain file name of the entry; ``ValueError`` saying what is wrong otherwise."""
    if not isinstance(manifest, dict):
        raise ValueError(f"manifest.json is {type(manifest).__name__}, not an object of files")
    for name, entry in manifest.items():
        plain = name not in ("", ".", "..", MANIFEST) and "/" not in name and os.sep not in name
        if not plain or not isinstance(entry, dict) or not _whole(entry.get("bytes")) \
                or not isinstance(entry.get("sha256"), str):
            raise ValueError(f"manifest.json: {name!r}: {json.dumps(entry)[:60]} is not a file with its bytes and "
                             "sha256")
    return manifest


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_entry_files(folder: Path) -> dict[str, bytes]:
    """The files of a folder entry written whole with a ``manifest.json`` (`EntryFolder.put_files`), each checked
    against its size and SHA-256 there; ``ValueError`` (or ``OSError``) saying what is wrong otherwise."""
    manifest = check_manifest(json.loads((folder / MANIFEST).read_bytes()))
    files = {}
    for name, entry in manifest.items():
        data = (folder / name).read_bytes()
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ValueError(f"{name} differs from manifest.json")
        files[name] = data
    return files


@contextmanager
def entry_lock(root: Path, key: str) -> Iterator[None]:
    """Hold ``<root>/<key>.lock`` exclusively (``flock``): one process at a time computes the entry ``key``."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class EntryFolder:
    """Folder entries under ``root``, one folder per key (module docstring)."""

    def __init__(self, root):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def get_files(self, key: str) -> dict[str, bytes] | None:
        """The files of an entry, each checked against the manifest; ``None`` when there is no entry or it is
        damaged (reported, then removed)."""
        folder = self.path(key)
        if not (folder / MANIFEST).is_file():
            return None
        try:
            return read_entry_files(folder)
        except (ValueError, OSError) as e:
            self.discard(key, e)
            return None

    def discard(self, key: str, reason: Exception) -> None:
        """Report a damaged entry (`StoredRunWarning`) and remove it, so that it is computed again."""
        folder = self.path(key)
        warnings.warn(f"stored entry {folder} is damaged ({reason}); it is computed again", StoredRunWarning,
                      stacklevel=3)
        shutil.rmtree(folder, ignore_errors=True)

    def put_files(self, key: str, files: dict[str, bytes]) -> Path:
        """Write an entry whole: its files into ``<key>.tmp``, the manifest (size and SHA-256 of each) last, then
        one rename into place; returns its folder."""
        folder, tmp = self.path(key), self.path(key + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        for name, data in files.items():
            atomic_write_bytes(tmp / name, data)
        manifest = {n: {"bytes": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()}
        atomic_write_bytes(tmp / MANIFEST, json.dumps(manifest, indent=1).encode())
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        return folder
