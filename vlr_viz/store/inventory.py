"""The kinds of stored things, where each lives, how each is checked and removed (`vlr_viz.store`)."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..errors import ConfigError
from .arrays import load_array
from .entry import read_entry_files
from .figures import PNG_SIGNATURE
from .locations import default_cache_dir, default_store_dir

UNFINISHED = (".tmp", ".partial")

DERIVED = ("stage1", "evaluations", "analyses", "dcmq", "faiss")
"""Folders of the run store that hold what is computed on the way to runs or from them (the kinds other than
``runs`` that live there); ``vlr-viz runs rm --all`` clears them with the runs."""


@dataclass(frozen=True)
class StoredEntry:
    """One stored thing: its kind, its key (the name ``runs rm`` / ``store rm`` take), its path, size, and status
    (``"ok"``, ``"unchecked"``, ``"unfinished"`` or ``"damaged: <reason>"``)."""

    kind: str
    key: str
    path: Path
    bytes: int
    status: str


@dataclass(frozen=True)
class Kind:
    """Where a kind lives (``folder`` of the cache or the run store), how its entries are found, and the check that
    says whether one is sound (raises with the reason)."""

    name: str
    folder: Callable[[Path, Path], Path]
    find: Callable[[Path], Iterator[Path]]
    check: Callable[[Path], None]
    key: Callable[[Path], str]


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size + sum(p.stat().st_size for p in _companions(path) if p.exists())


def _companions(path: Path) -> list[Path]:
    """Files that belong to an array entry: its sidecar, lock and progress files."""
    return [Path(f"{path}{suffix}") for suffix in (".json", ".lock", ".progress.json")]


def _leftovers(folder: Path) -> list[Path]:
    """Temporary files of atomic writes that were cut off (`vlr_viz.atomic.atomic_write_bytes`: ``.<name>.*.tmp``)."""
    return sorted(p for p in folder.glob(".*.tmp") if p.is_file())


def _arrays(folder: Path) -> Iterator[Path]:
    yield from (p for p in sorted(folder.glob("*.npy")) if p.is_file())
    yield from sorted(folder.glob("*.npy.partial"))
    yield from _leftovers(folder)


def _check_array(path: Path) -> None:
    load_array(path)


def _folders(folder: Path) -> Iterator[Path]:
    yield from (p for p in sorted(folder.iterdir()) if p.is_dir() and p.name not in DERIVED and not p.is_symlink())


def _tables(folder: Path) -> Iterator[Path]:
    yield from sorted(folder.rglob("*.json"))
    for sub in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        yield from _leftovers(sub)


def _check_table(path: Path) -> None:
    entry = json.loads(path.read_bytes())
    if not isinstance(entry, dict) or entry.get("key") != path.stem or not isinstance(entry.get("rows"), list):
        raise ValueError("not a stored table of its own key")


def _check_png(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(len(PNG_SIGNATURE))
    if head != PNG_SIGNATURE or path.stat().st_size < 67:  # the smallest valid PNG
        raise ValueError("not a whole PNG")


def _stem_key(path: Path) -> str:
    return path.name


def _kinds() -> dict[str, Kind]:
    def runs_folder(cache: Path, runs: Path) -> Path:
        return runs

    def under_runs(name: str):
        return lambda cache, runs: runs / name

    return {k.name: k for k in (
        Kind("arrays", lambda cache, runs: cache, _arrays, _check_array, _stem_key),
        Kind("figures", lambda cache, runs: cache / "figures",
             lambda f: iter([*sorted(f.glob("*.png")), *_leftovers(f)]), _check_png, _stem_key),
        Kind("runs", runs_folder, _folders, read_entry_files, _stem_key),
        Kind("stage1", under_runs("stage1"), _folders, read_entry_files, _stem_key),
        Kind("dcmq", under_runs("dcmq"), _folders, read_entry_files, _stem_key),
        Kind("faiss", under_runs("faiss"), _arrays, _check_array, _stem_key),
        Kind("analyses", under_runs("analyses"), _tables, _check_table, lambda p: str(p.parent.name + "/" + p.name)),
        Kind("evaluations", under_runs("evaluations"), _tables, _check_table, _stem_key),
    )}


KINDS = tuple(_kinds())
"""The kinds, in the order `entries` lists them."""


def _roots(cache_dir=None, store_dir=None) -> tuple[Path, Path]:
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    runs = Path(store_dir) if store_dir is not None else (default_store_dir() if cache_dir is None else cache / "runs")
    return cache, runs


def _kind(name: str) -> Kind:
    kinds = _kinds()
    if name not in kinds:
        raise ConfigError(f"store: unknown kind {name!r}; the kinds are {', '.join(kinds)}")
    return kinds[name]


def _status(kind: Kind, path: Path, verify: bool) -> str:
    if path.name.endswith(UNFINISHED) or (kind.find is _folders and not (path / "manifest.json").is_file()):
        return "unfinished"
    if not verify:
        return "unchecked"
    try:
        kind.check(path)
    except (ValueError, KeyError, TypeError, OSError) as e:
        return f"damaged: {' '.join(str(e).split())}"
    return "ok"


def entries(kind: str | None = None, *, verify: bool = False, cache_dir=None, store_dir=None) -> list[StoredEntry]:
    """Every stored entry (of ``kind``), with its status; ``verify`` checks each (reads every byte)."""
    cache, runs = _roots(cache_dir, store_dir)
    out = []
    for k in [_kind(kind)] if kind else _kinds().values():
        folder = k.folder(cache, runs)
        if not folder.is_dir():
            continue
        for path in k.find(folder):
            out.append(StoredEntry(k.name, k.key(path), path, _size(path), _status(k, path, verify)))
    return out


def remove(kind: str, keys=None, *, cache_dir=None, store_dir=None) -> int:
    """Delete entries of ``kind`` by key (every key checked before anything is deleted: it must name an entry
    `entries` lists), or all of them with ``keys=None``; returns how many were removed. Nothing outside the
    kind's folder is touched."""
    found = {e.key: e for e in entries(kind, cache_dir=cache_dir, store_dir=store_dir)}
    if keys is None:
        targets = list(found.values())
    else:
        unknown = [k for k in keys if k not in found]
        if unknown:
            raise ConfigError(f"store rm: {unknown[0]!r} is not the key of a stored {kind} entry (the keys are the "
                              f"second column of 'vlr-viz store ls {kind}')")
        targets = [found[k] for k in keys]
    cache, runs = _roots(cache_dir, store_dir)
    root = _kind(kind).folder(cache, runs).resolve()
    for entry in targets:
        path = entry.path
        if path.is_symlink() or root not in path.resolve().parents:
            raise ConfigError(f"store rm: {path} lies outside {root}; it is left alone")
    for entry in targets:
        if entry.path.is_dir():
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            entry.path.unlink(missing_ok=True)
            for companion in _companions(entry.path):
                companion.unlink(missing_ok=True)
    return len(targets)
