"""The run store: a trained student is a pure function of what determines it, so it is trained once and read back.

A run is keyed by the content hash of its resolved `TrainConfig`, the contents of its training, validation and
evaluation features (`fingerprint`), the probe, and `TRAINING_CODE_VERSION`, which changes whenever the training code
changes what it computes, and for a method registered from a plug-in the hash of the plug-in's source (an edited
plug-in trains again). Entries live in ``<cache dir>/runs/<key>/`` (``$VLR_VIZ_CACHE/runs`` when that is set, so a
fresh cache directory is a cold start for features and runs alike; ``$VLR_VIZ_RUN_STORE`` names another folder)::

    config.json          the TrainConfig
    summary.json         what the run was (recipe, seed, dataset names), its selected epoch and metrics, dims, seconds
    best.safetensors     the selected model state
    history.json, snapshots.npz   the `History`
    img_emb.npy, txt_emb.npy      embeddings of the evaluation split (float32)
    manifest.json        size and SHA-256 of every file, written last

An entry is written whole into ``<key>.tmp`` and renamed into place (`vlr_viz.train.checkpoint` does the same for
checkpoints); a missing or wrong checksum makes the entry count as absent (it is reported and retrained). A lock
file serialises two processes asking for the same run: the second waits and reads the first one's result.
``vlr-viz runs ls`` / ``vlr-viz runs rm`` show and clear entries. What is computed from runs and embeddings lives
beside them in the folders named by `DERIVED`. A run is a folder entry (`vlr_viz.store.entry.EntryFolder`): written
whole, checksummed, locked like every other.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from ..errors import ConfigError
from ..keys import content_hash
from ..methods import get_method
from ..train.config import TrainConfig
from ..train.history import History
from ..train.model import encode, model_from_state
from ..train.trainer import TrainResult
from . import inventory
from .entry import EntryFolder, entry_lock
from .inventory import DERIVED
from .locations import default_store_dir

TRAINING_CODE_VERSION = "2"
"""Changes whenever the training code computes something else for the same inputs (it keys every stored run)."""


def fingerprint(features) -> str:
    """Content hash of a `PairFeatures` split: every array that training or evaluation reads."""
    arrays = [features.image, features.text, features.txt_to_img, features.teacher_image, features.teacher_text]
    parts = [np.ascontiguousarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x) for x in arrays]
    labels = None if features.labels is None else np.asarray(features.labels)
    return content_hash("pair-features", parts, labels)


def run_key(config: TrainConfig, train, val, evaluate=None, probe=None, extra=None) -> str:
    """The store key of training ``config`` on ``train`` (selected on ``val``) and embedding ``evaluate``."""
    return run_keys([config], train, val, evaluate, probe, extra)[0]


def run_keys(configs, train, val, evaluate=None, probe=None, extra=None) -> list[str]:
    """`run_key` of every config, the features fingerprinted once."""
    prints = [fingerprint(train), fingerprint(val), None if evaluate is None else fingerprint(evaluate),
              None if probe is None else np.asarray(probe, dtype=np.int64), extra, TRAINING_CODE_VERSION]
    return [content_hash("run", _keyed_fields(config), *prints, *_method_code(config)) for config in configs]


def _method_code(config: TrainConfig) -> list[str]:
    """``[hash of its code]`` for a method registered from outside vlr_viz (an edited plug-in trains again), else
    nothing (the built-ins' code is `TRAINING_CODE_VERSION`)."""
    source = get_method(config.method).source
    return [] if source is None else [source]


ADDED_FIELDS = {"precision": "fp32"}
"""`TrainConfig` fields added after runs were first stored, with their default: a config at that default is keyed
without the field, so the runs stored before it stay valid (they were trained that way)."""


def _keyed_fields(config: TrainConfig) -> dict:
    d = config.to_dict()
    for name, default in ADDED_FIELDS.items():
        if d.get(name) == default:
            del d[name]
    return d


SUMMARY_FIELDS = {"dims": dict, "best_epoch": int, "best_metrics": dict, "last_epoch": int, "seconds": float,
                  "lambda_info": dict}
"""The fields of a run's summary.json that rebuild its `TrainResult`, with their JSON type."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_summary(summary) -> dict:
    """``summary`` after checking that it holds every field of `SUMMARY_FIELDS` with its type (``float``: any
    number) and feature dims of the shape `PairFeatures.dims` gives; ``ValueError`` naming the first bad field."""
    if not isinstance(summary, dict):
        raise ValueError(f"summary.json is {type(summary).__name__}, not an object")
    for name, kind in SUMMARY_FIELDS.items():
        value = summary.get(name)
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float
              else _is_int(value) if kind is int else isinstance(value, kind))
        if not ok:
            raise ValueError(f"summary.json: {name} is {json.dumps(value)[:60]}, not {kind.__name__}")
    dims = summary["dims"]
    shapes = [dims.get(k) for k in ("image", "text")]
    if not all(isinstance(s, list) and s and all(_is_int(n) for n in s) for s in shapes) \
            or not all(_is_int(dims.get(k)) for k in ("teacher_image", "teacher_text")):
        raise ValueError(f"summary.json: dims {json.dumps(dims)[:80]} are not the feature dims of a run")
    return summary


@dataclass
class StoredRun:
    """A run read from the store: the selected model state, its `History`, the evaluation embeddings, the summary."""

    key: str
    config: TrainConfig
    state: dict
    history: History
    img_emb: np.ndarray | None
    txt_emb: np.ndarray | None
    summary: dict = field(default_factory=dict)


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


class RunStore(EntryFolder):
    """Trained runs on disk, keyed by `run_key` (module docstring); ``root=None``: the default run store."""

    def __init__(self, root=None):
        super().__init__(root if root is not None else default_store_dir())

    def get(self, key: str) -> StoredRun | None:
        """The stored run, or ``None`` when there is none or it is damaged (reported, then removed)."""
        files = self.get_files(key)
        if files is None:
            return None
        try:
            history = History.from_bytes(files["history.json"], files.get("snapshots.npz"))
            emb = {n: np.load(io.BytesIO(files[n]), allow_pickle=False) if n in files else None
                   for n in ("img_emb.npy", "txt_emb.npy")}
            return StoredRun(key, TrainConfig.from_dict(json.loads(files["config.json"])),
                             load(files["best.safetensors"]), history, emb["img_emb.npy"], emb["txt_emb.npy"],
                             check_summary(json.loads(files["summary.json"])))
        except (ValueError, KeyError, TypeError, AttributeError, OSError, SafetensorError) as e:
            # TypeError / AttributeError: a JSON file of the wrong shape (a list, null or string for an object)
            self.discard(key, e)
            return None

    def put(self, key: str, config: TrainConfig, state: dict, history: History, summary: dict,
            img_emb: np.ndarray | None = None, txt_emb: np.ndarray | None = None) -> Path:
        """Write a run whole (`put_files`); returns its folder. ``summary`` holds at least `SUMMARY_FIELDS` (what
        rebuilds the run's `TrainResult`): `get` counts an entry without them as damaged."""
        files = {"config.json": config.to_json().encode(),
                 "summary.json": json.dumps({**summary, "stored": time.strftime("%Y-%m-%d %H:%M:%S")},
                                            indent=1, default=float).encode(),
                 "best.safetensors": save({k: v.detach().cpu().contiguous() for k, v in state.items()}),
                 **history.to_bytes()}
        if img_emb is not None:
            files["img_emb.npy"], files["txt_emb.npy"] = _npy(img_emb), _npy(txt_emb)
        return self.put_files(key, files)

    def get_or_train(self, key: str, train: Callable[[], dict]) -> tuple[StoredRun, bool]:
        """``(run, hit)``: the stored run, or ``train()`` (which returns `put`'s keyword arguments) run once and
        stored, under a lock so that two processes asking at once train it once."""
        hit = self.get(key)
        if hit is not None:
            return hit, True
        with entry_lock(self.root, key):
            hit = self.get(key)
            if hit is not None:
                return hit, True
            self.put(key, **train())
        return self.get(key), False

    def entries(self) -> list[dict]:
        """One row per stored run (`vlr_viz.store.inventory.entries` of kind ``runs``): key, size, and its summary
        (recipe, seed, selected epoch, metrics, ...); a summary that is not a JSON object reads as empty."""
        rows = []
        for entry in inventory.entries("runs", store_dir=self.root):
            if entry.status == "unfinished":
                continue
            try:
                summary = json.loads((entry.path / "summary.json").read_bytes())
            except (OSError, ValueError):
                summary = {}
            rows.append({**(summary if isinstance(summary, dict) else {}), "key": entry.key, "bytes": entry.bytes})
        return rows

    def unfinished(self) -> list[str]:
        """Names of what lies in the store without being a run or a folder of `DERIVED`: ``<key>.tmp`` folders
        of writes that were cut off, and folders without a ``manifest.json`` (never finished, or damaged)."""
        return [e.key for e in inventory.entries("runs", store_dir=self.root) if e.status == "unfinished"]

    def derived(self) -> dict[str, tuple[int, int]]:
        """``{folder of DERIVED: (entries, bytes)}`` for each such folder present, as `vlr_viz.store.inventory`
        lists them."""
        sizes = {}
        for name in DERIVED:
            if (self.root / name).is_dir():
                found = inventory.entries(name, store_dir=self.root)
                sizes[name] = (len(found), sum(e.bytes for e in found))
        return sizes

    def resolve_key(self, key: str) -> Path:
        """The folder of the run ``key`` (as `entries` or `unfinished` name it), after checking that ``key`` is
        the name of such a folder directly inside the store: a path, ``''``, ``.``, ``..``, a folder of `DERIVED`
        or a name the store does not hold is refused, naming it."""
        key = str(key)
        known = {r["key"] for r in self.entries()} | set(self.unfinished())
        folder = self.root / key
        inside = (key not in ("", ".", "..") and Path(key).name == key and "/" not in key and os.sep not in key
                  and not folder.is_symlink() and folder.resolve().parent == self.root.resolve())
        if not inside or key not in known:
            raise ConfigError(f"runs rm: {key!r} is not the key of a stored run in {self.root} (the keys are the "
                              "first column of 'vlr-viz runs ls'; 'vlr-viz runs rm --all' clears the whole store)")
        return folder

    def remove(self, keys=None) -> int:
        """Delete the given runs, named by key (`resolve_key`: every key is checked before anything is deleted);
        ``keys=None`` deletes every run, every unfinished entry and everything under `DERIVED`. Returns how many
        entries (runs and unfinished ones) were removed. Nothing outside the store is ever touched."""
        if keys is None:
            targets = [self.root / r["key"] for r in self.entries()] + [self.root / n for n in self.unfinished()]
            for derived in DERIVED:
                if (self.root / derived).is_dir() and not (self.root / derived).is_symlink():
                    shutil.rmtree(self.root / derived)
        else:
            targets = [self.resolve_key(k) for k in keys]
        for folder in targets:
            shutil.rmtree(folder, ignore_errors=True)
            (self.root / f"{folder.name.removesuffix('.tmp')}.lock").unlink(missing_ok=True)
        if keys is None and self.root.is_dir():
            for lock in self.root.glob("*.lock"):
                lock.unlink(missing_ok=True)
        return len(targets)


def _stored_summary(config: TrainConfig, result, train, val, evaluate, extra: dict | None) -> dict:
    return {**(extra or {}), "method": config.method, "seed": config.seed, "best_epoch": result.best_epoch,
            "best_metrics": result.best_metrics, "last_epoch": result.last_epoch, "seconds": result.seconds,
            "lambda_info": result.lambda_info, "dims": train.dims(),
            "splits": [train.name, val.name, None if evaluate is None else evaluate.name]}


def _entry(config: TrainConfig, result, train, val, evaluate, extra: dict | None) -> dict:
    """`RunStore.put`'s keyword arguments for a freshly trained result."""
    img, txt = encode(result.model, evaluate.image, evaluate.text) if evaluate is not None else (None, None)
    return {"config": config, "state": result.model.state_dict(), "history": result.history, "img_emb": img,
            "txt_emb": txt, "summary": _stored_summary(config, result, train, val, evaluate, extra)}


def _result(stored: StoredRun):
    """The `TrainResult` of a stored run (the selected model rebuilt from its state)."""
    s = stored.summary
    return TrainResult(model=model_from_state(stored.config, s["dims"], stored.state), history=stored.history,
                       config=stored.config, best_epoch=s["best_epoch"], best_metrics=s["best_metrics"],
                       last_epoch=s["last_epoch"], seconds=s["seconds"], lambda_info=s["lambda_info"])
