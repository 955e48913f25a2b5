"""Stage 1 in the run store: a change of what only stage 2 reads trains stage 2 alone.

Every recipe starts with the same matching-only stage 1 (`vlr_viz.train.stage1`). Its `Stage1` (weights, AdamW
state, RNG state, best epoch so far, per-epoch values and snapshot weights) is stored beside the runs, in
``<run store>/stage1/<key>/``, keyed by the content hash of the `stage1_signature`, the training and validation
features (`vlr_viz.store.runs.fingerprint`) and `TRAINING_CODE_VERSION`. A run that misses the store looks up its
stage 1 there first: a new λ, τ2, structure weight, student relation or method (the explorer's sliders, a notebook
parameter) then trains only its stage-2 epochs, with the numbers of the run trained whole (a test checks them bit
for bit). Runs that train whole record their stage 1 on the way and store it.

An entry is two files written whole by `EntryFolder.put_files` (checksummed, renamed into place)::

    tensors.safetensors   model and best-epoch weights, AdamW moments and steps, RNG states, snapshot weights;
                          each distinct tensor once (the last weights are the last snapshot's, the best often
                          another snapshot's, and parameters stage 1 does not train are the same in all of them)
    stage1.json           signature, step, best epoch and metrics, per-epoch values, feature sizes, the order of
                          the tensors and which of them repeat another; step tables as float32 bytes (hex), so
                          that every value reads back exactly

Nothing is unpickled on load; a damaged entry is reported (`StoredRunWarning`), removed and trained again.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from ..keys import content_hash
from ..train.stage1 import Stage1, shares_stage1, stage1_signature
from .entry import EntryFolder, entry_lock
from .runs import TRAINING_CODE_VERSION, RunStore, fingerprint

FOLDER = "stage1"
"""The folder of the run store that holds stage-1 entries (one of `vlr_viz.store.inventory.DERIVED`)."""


def _flat(prefix: str, state: dict | None) -> dict[str, torch.Tensor]:
    return {} if state is None else {f"{prefix}/{k}": v.detach().cpu().contiguous() for k, v in state.items()}


def _unflat(tensors: dict, prefix: str) -> dict:
    return {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + "/")}


def _table(table: np.ndarray | None) -> dict | None:
    if table is None:
        return None
    table = np.ascontiguousarray(table, dtype=np.float32)
    return {"shape": list(table.shape), "float32": table.tobytes().hex()}


def _untable(entry: dict | None) -> np.ndarray | None:
    if entry is None:
        return None
    return np.frombuffer(bytes.fromhex(entry["float32"]), dtype=np.float32).reshape(entry["shape"]).copy()


def _distinct(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(the first of each set of equal tensors, {name of a repeat: name of the first})``; equal means the same
    dtype, shape and bytes."""
    first: dict[tuple, str] = {}
    kept, repeats = {}, {}
    for name, tensor in tensors.items():
        digest = hashlib.blake2b(tensor.reshape(-1).view(torch.uint8).numpy(), digest_size=16).hexdigest()
        key = (str(tensor.dtype), tuple(tensor.shape), digest)
        if key in first and torch.equal(tensors[first[key]], tensor):
            repeats[name] = first[key]
        else:
            first.setdefault(key, name)
            kept[name] = tensor
    return kept, repeats


def stage1_to_files(stage1: Stage1) -> dict[str, bytes]:
    """The files of a stage-1 entry (module docstring)."""
    tensors = {**_flat("model", stage1.model_state), **_flat("best", stage1.best["state"]),
               **_flat("rng", stage1.rng_states)}
    optimizer = {}
    for name, state in stage1.optimizer_state.items():
        tensors.update(_flat(f"opt/{name}", {k: v for k, v in state.items() if torch.is_tensor(v)}))
        optimizer[name] = {k: v for k, v in state.items() if not torch.is_tensor(v)}
    epochs = []
    for i, record in enumerate(stage1.epochs):
        tensors.update(_flat(f"epoch{i}", record["state"]))
        # a snapshot epoch's weights go to the tensors; the JSON keeps only whether there are any
        epochs.append({k: _table(v) if k == "table" else v is not None if k == "state" else v
                       for k, v in record.items()})
    meta = {"signature": stage1.signature, "step": stage1.step, "data": list(stage1.data), "optimizer": optimizer,
            "best": {k: v for k, v in stage1.best.items() if k != "state"},
            "best_has_state": stage1.best["state"] is not None, "epochs": epochs, "tensor_order": list(tensors)}
    kept, meta["repeats"] = _distinct(tensors)
    return {"tensors.safetensors": save(kept), "stage1.json": json.dumps(meta, default=float).encode()}


META_FIELDS = {"signature": str, "step": int, "data": list, "optimizer": dict, "best": dict, "best_has_state": bool,
               "epochs": list, "tensor_order": list}
"""The fields of stage1.json (`stage1_to_files`) with their JSON type."""
EPOCH_FIELDS = ("epoch", "tau", "metrics", "state")
"""What every per-epoch record of stage1.json holds (a trained epoch also ``table``, ``keys``, ``infos``,
``seconds``: `vlr_viz.train.stage1.Stage1Recorder`)."""


def check_meta(meta) -> dict:
    """``meta`` after checking that it has the shape `stage1_to_files` writes (`META_FIELDS`, per-epoch records
    with `EPOCH_FIELDS`, tensor names as strings); ``ValueError`` naming the first field at fault."""
    if not isinstance(meta, dict):
        raise ValueError(f"stage1.json is {type(meta).__name__}, not an object")
    for name, kind in META_FIELDS.items():
        value = meta.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"stage1.json: {name} is {json.dumps(value)[:60]}, not {kind.__name__}")
    repeats = meta.get("repeats", {})
    if not isinstance(repeats, dict) or not all(isinstance(v, str) for v in repeats.values()) \
            or not all(isinstance(n, str) for n in meta["tensor_order"]):
        raise ValueError("stage1.json: tensor_order / repeats do not name tensors")
    if not all(k in meta["best"] for k in ("epoch", "metric", "metrics")):
        raise ValueError("stage1.json: best lacks its epoch, metric or metrics")
    if not all(isinstance(v, dict) for v in meta["optimizer"].values()):
        raise ValueError("stage1.json: optimizer is not an object of per-parameter states")
    for i, record in enumerate(meta["epochs"]):
        trained = ("table", "keys", "infos", "seconds") if isinstance(record, dict) and record.get("epoch") else ()
        if not isinstance(record, dict) or not all(k in record for k in (*EPOCH_FIELDS, *trained)):
            raise ValueError(f"stage1.json: epochs[{i}] is not the record of an epoch")
    return meta


def stage1_from_files(files: dict[str, bytes]) -> Stage1:
    """The `Stage1` of an entry's files (`stage1_to_files`); KeyError / ValueError when they do not make one."""
    stored, meta = load(files["tensors.safetensors"]), check_meta(json.loads(files["stage1.json"]))
    repeats = meta.get("repeats", {})
    # safetensors sorts the names; a repeat gets its own copy, as it had when stored
    tensors = {name: stored[repeats[name]].clone() if name in repeats else stored[name]
               for name in meta["tensor_order"]}
    optimizer = {name: {**_unflat(tensors, f"opt/{name}"), **plain} for name, plain in meta["optimizer"].items()}
    epochs = []
    for i, record in enumerate(meta["epochs"]):
        epochs.append({k: _untable(v) if k == "table" else (_unflat(tensors, f"epoch{i}") if v else None)
                       if k == "state" else v for k, v in record.items()})
    best = {"state": _unflat(tensors, "best") if meta["best_has_state"] else None, **meta["best"]}
    model_state = _unflat(tensors, "model")
    if not model_state:
        raise ValueError("the entry holds no model weights")
    return Stage1(meta["signature"], model_state, optimizer, _unflat(tensors, "rng"), meta["step"], best, epochs,
                  tuple(meta["data"]))


class Stage1Store:
    """Stage-1 entries of a `RunStore` (module docstring); ``None`` uses the default store."""

    def __init__(self, store: RunStore | None = None):
        self.entries = EntryFolder((store or RunStore()).root / FOLDER)

    def keys(self, configs, train, val) -> list[str | None]:
        """The entry key of every config's stage 1 (``None`` for a config without both stages), the features
        fingerprinted once."""
        configs = list(configs)
        if not any(shares_stage1(c) for c in configs):
            return [None] * len(configs)
        prints = fingerprint(train), fingerprint(val), TRAINING_CODE_VERSION
        return [content_hash("stage1", stage1_signature(c), *prints) if shares_stage1(c) else None
                for c in configs]

    def get(self, key: str | None) -> Stage1 | None:
        """The stored stage 1, or ``None`` when there is none or it is damaged (reported, then removed)."""
        files = None if key is None else self.entries.get_files(key)
        if files is None:
            return None
        try:
            return stage1_from_files(files)
        except (ValueError, KeyError, TypeError, AttributeError, SafetensorError) as e:
            self.entries.discard(key, e)
            return None

    def put(self, key: str, stage1: Stage1) -> None:
        """Store ``stage1`` under ``key`` unless an intact entry is there; a lock keeps two processes from writing
        the same entry at once."""
        with entry_lock(self.entries.root, key):
            if self.entries.get_files(key) is None:
                self.entries.put_files(key, stage1_to_files(stage1))
