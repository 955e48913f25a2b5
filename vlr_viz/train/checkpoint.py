"""Checkpoints: tensors in safetensors files, everything else in JSON (nothing is unpickled on load).

A checkpoint folder holds::

    config.json            the TrainConfig
    trainer_state.json     epoch, step, best epoch / metric, feature dims, optimiser hyper-parameters, extras
    model.safetensors      the model state after ``epoch``
    best.safetensors       the state of the best epoch so far (what `load_model` returns by default)
    optimizer.safetensors  AdamW moments and step counts, the torch RNG state(s)
    history.json, snapshots.npz   the `History` up to ``epoch``
    manifest.json          size and SHA-256 of every file above, written last

A save writes every file (each fsynced) into the sibling ``<folder>.tmp``, the manifest last, then swaps it in:
``<folder>`` → ``<folder>.old``, ``<folder>.tmp`` → ``<folder>``, and deletes ``<folder>.old``. A process
killed at any point leaves the old checkpoint or the new one, never a mix: `recover_checkpoint` (run by
`load_checkpoint`, hence by every resume) finishes an interrupted swap from whichever of ``.tmp`` (newer) and
``.old`` is complete, and refuses with a message, deleting nothing, when neither is. A truncated, corrupt or
missing file raises `CheckpointError` naming it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ..atomic import atomic_write_bytes
from ..errors import CheckpointError, ConfigError
from .config import TrainConfig
from .history import History

FILES = ("config.json", "trainer_state.json", "model.safetensors", "best.safetensors", "optimizer.safetensors",
         "history.json")
MANIFEST = "manifest.json"
TRAINER_STATE_KEYS = ("epoch", "step", "best_epoch", "best_metric", "best_metrics", "dims", "optimizer")


class CheckpointRecoveredWarning(UserWarning):
    """An interrupted save left the checkpoint folder missing; it was restored from ``.tmp`` or ``.old``."""


def _tensors(state: dict) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def _split_optimizer(opt_state: dict) -> tuple[dict, dict]:
    tensors, plain = {}, {"param_groups": opt_state["param_groups"], "state": {}}
    for idx, st in opt_state["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"state.{idx}.{k}"] = v
            else:
                plain["state"].setdefault(str(idx), {})[k] = v
    return tensors, plain


def _join_optimizer(tensors: dict, plain: dict) -> dict:
    state: dict = {}
    for key, v in tensors.items():
        _, idx, k = key.split(".", 2)
        state.setdefault(int(idx), {})[k] = v
    for idx, st in plain["state"].items():
        state.setdefault(int(idx), {}).update(st)
    return {"state": state, "param_groups": plain["param_groups"]}


def _staging(folder: Path) -> Path:
    return folder.with_name(folder.name + ".tmp")


def _previous(folder: Path) -> Path:
    return folder.with_name(folder.name + ".old")


def _fsync_dir(folder: Path) -> None:
    """Make renames inside ``folder`` durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(folder, *, config: TrainConfig, model_state: dict, best_state: dict, optimizer_state: dict,
                    rng_states: dict[str, torch.Tensor], trainer_state: dict, history: History) -> Path:
    """Write a checkpoint folder (complete in ``<folder>.tmp``, then swapped in); returns its path."""
    folder = Path(folder)
    tmp = _staging(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    opt_tensors, opt_plain = _split_optimizer(optimizer_state)
    opt_tensors.update({f"rng.{k}": v for k, v in rng_states.items()})
    contents = {
        "model.safetensors": save(_tensors(model_state)),
        "best.safetensors": save(_tensors(best_state)),
        "optimizer.safetensors": save(_tensors(opt_tensors)),
        "config.json": config.to_json().encode(),
        "trainer_state.json": json.dumps({**trainer_state, "optimizer": opt_plain}, indent=1).encode(),
    }
    for name, data in contents.items():
        atomic_write_bytes(tmp / name, data)
    history.save(tmp)
    for name in ("history.json", "snapshots.npz"):
        if (tmp / name).exists():
            contents[name] = (tmp / name).read_bytes()
    manifest = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                for name, data in contents.items()}
    atomic_write_bytes(tmp / MANIFEST, json.dumps(manifest, indent=1).encode())  # last: marks it complete
    _swap_in(tmp, folder)
    return folder


def _swap_in(tmp: Path, folder: Path) -> None:
    """``folder`` → ``folder.old``, ``tmp`` → ``folder``, then delete ``folder.old``; every state in between is
    one that `recover_checkpoint` completes."""
    old = _previous(folder)
    shutil.rmtree(old, ignore_errors=True)  # a leftover of an earlier swap: this complete save supersedes it
    if folder.exists():
        os.rename(folder, old)
    os.rename(tmp, folder)
    _fsync_dir(folder.parent)
    shutil.rmtree(old, ignore_errors=True)


def require_files(folder, names, what: str, error: type[Exception]) -> Path:
    """``Path(folder)`` after checking that it is a folder holding every file of ``names``; otherwise ``error``
    naming ``what`` (``"checkpoint"``, ``"run folder"``), the folder and every missing file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise error(f"{what} {folder} does not exist")
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise error(f"{what} {folder} is incomplete: {', '.join(missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} missing")
    return folder


def _read_bytes(folder: Path, name: str) -> bytes:
    path = folder / name
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {folder} is incomplete: {name} is missing") from None
    except OSError as e:
        raise CheckpointError(f"checkpoint file {path} cannot be read: {e}") from None


def _read_json(folder: Path, name: str):
    try:
        return json.loads(_read_bytes(folder, name).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint file {folder / name} is truncated or corrupt "
                              f"(not valid JSON: {e})") from None


def _read_tensors(folder: Path, name: str) -> dict[str, torch.Tensor]:
    if not (folder / name).is_file():
        raise CheckpointError(f"checkpoint {folder} is incomplete: {name} is missing")
    try:
        return load_file(folder / name)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint file {folder / name} is truncated or corrupt: {e}") from None


def _check_manifest(folder: Path) -> dict:
    """Size and checksum of every file listed in ``manifest.json``; `CheckpointError` naming the first bad one."""
    manifest = _read_json(folder, MANIFEST)
    if not isinstance(manifest, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("bytes"), int) and isinstance(v.get("sha256"), str)
            for v in manifest.values()):
        raise CheckpointError(f"checkpoint file {folder / MANIFEST} is corrupt: not a manifest of files")
    for name, entry in manifest.items():
        data = _read_bytes(folder, name)
        if len(data) != entry["bytes"]:
            raise CheckpointError(f"checkpoint file {folder / name} is truncated or corrupt: {len(data)} bytes, "
                                  f"{MANIFEST} records {entry['bytes']}")
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise CheckpointError(f"checkpoint file {folder / name} is corrupt: its checksum differs from "
                                  f"the one in {MANIFEST}")
    return manifest


def verify_checkpoint(folder, require_manifest: bool = False) -> Path:
    """``folder`` after checking that it holds a complete, readable checkpoint; `CheckpointError` naming the
    missing, truncated or corrupt file otherwise. A checkpoint written before manifests existed is checked by
    reading every file."""
    folder = require_files(folder, FILES, "checkpoint", CheckpointError)
    if (folder / MANIFEST).exists():
        _check_manifest(folder)
    elif require_manifest:
        raise CheckpointError(f"checkpoint {folder} is incomplete: {MANIFEST} (written last) is missing")
    _trainer_state(folder)
    _config(folder)
    for name in ("model.safetensors", "best.safetensors", "optimizer.safetensors"):
        _read_tensors(folder, name)
    return folder


def _trainer_state(folder: Path) -> dict:
    """trainer_state.json after checking its fields (`TRAINER_STATE_KEYS`): epochs and step whole numbers, the
    rest objects; a checkpoint written before manifests has nothing else that vouches for them."""
    path = folder / "trainer_state.json"
    state = _read_json(folder, "trainer_state.json")
    missing = [k for k in TRAINER_STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"checkpoint file {path} is corrupt: it lacks {missing}")
    for name in ("epoch", "step", "best_epoch"):
        value = state[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CheckpointError(f"checkpoint file {path} is corrupt: {name} is {json.dumps(value)}, not a whole "
                                  "number >= 0")
    for name in ("best_metrics", "dims", "optimizer"):
        if not isinstance(state[name], dict):
            raise CheckpointError(f"checkpoint file {path} is corrupt: {name} is {json.dumps(state[name])[:40]}, "
                                  "not an object")
    return state


def _config(folder: Path) -> TrainConfig:
    try:
        return TrainConfig.from_dict(_read_json(folder, "config.json"), where=str(folder / "config.json"))
    except ConfigError as e:
        raise CheckpointError(str(e)) from None


def recover_checkpoint(folder) -> Path | None:
    """The checkpoint folder to resume from, after completing a save that was interrupted; ``None`` when no
    save ever completed.

    * ``folder`` exists: it is checked (`verify_checkpoint`); leftovers of an interrupted save (``.tmp``: an
      uncommitted newer write, ``.old``: a superseded one) are removed.
    * ``folder`` is missing but ``.tmp`` and/or ``.old`` exist (killed between the two renames of the swap):
      the newer complete one (``.tmp`` needs its manifest) is renamed back to ``folder``, with a
      `CheckpointRecoveredWarning`. If neither is complete, `CheckpointError` says why and deletes nothing.
    * only an incomplete ``.tmp`` (the first save was interrupted): nothing to resume; it is removed with a
      warning.
    """
    folder = Path(folder)
    tmp, old = _staging(folder), _previous(folder)
    if folder.exists():
        verify_checkpoint(folder)
        for leftover in (tmp, old):
            shutil.rmtree(leftover, ignore_errors=True)
        return folder
    problems = []
    for candidate in (tmp, old):
        if not candidate.exists():
            continue
        try:
            verify_checkpoint(candidate, require_manifest=candidate == tmp)
        except CheckpointError as e:
            problems.append(str(e))
            continue
        os.rename(candidate, folder)
        _fsync_dir(folder.parent)
        shutil.rmtree(old if candidate == tmp else tmp, ignore_errors=True)
        epoch = _trainer_state(folder)["epoch"]
        warnings.warn(f"checkpoint {folder} was missing after an interrupted save; restored the checkpoint of "
                      f"epoch {epoch} from {candidate.name}", CheckpointRecoveredWarning, stacklevel=2)
        return folder
    if old.exists():
        raise CheckpointError(f"checkpoint {folder} is missing after an interrupted save and no complete "
                              f"checkpoint is left to restore ({'; '.join(problems)}); nothing was deleted: "
                              f"move {old.name}{' and ' + tmp.name if tmp.exists() else ''} away to start over")
    if tmp.exists():
        warnings.warn(f"{tmp} is an incomplete first save ({problems[0]}); removed it, nothing to resume from",
                      CheckpointRecoveredWarning, stacklevel=2)
        shutil.rmtree(tmp, ignore_errors=True)
    return None


def load_checkpoint(folder) -> dict:
    """``{"config", "trainer_state", "model_state", "best_state", "optimizer_state", "rng_states", "history"}``.

    First completes an interrupted save (`recover_checkpoint`); `CheckpointError` names a missing, truncated or
    corrupt file, or says that ``folder`` holds no checkpoint.
    """
    folder = Path(folder)
    if recover_checkpoint(folder) is None:
        raise CheckpointError(f"no checkpoint to resume from in {folder}")
    trainer_state = _trainer_state(folder)
    opt_plain = trainer_state.pop("optimizer")
    opt_tensors = _read_tensors(folder, "optimizer.safetensors")
    rng = {k[4:]: opt_tensors.pop(k) for k in list(opt_tensors) if k.startswith("rng.")}
    if "cpu" not in rng:
        raise CheckpointError(f"checkpoint file {folder / 'optimizer.safetensors'} is corrupt: it lacks the RNG state")
    try:
        history = History.load(folder)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"checkpoint history in {folder} (history.json, snapshots.npz) is corrupt: {e}") from None
    return {
        "config": _config(folder),
        "trainer_state": trainer_state,
        "model_state": _read_tensors(folder, "model.safetensors"),
        "best_state": _read_tensors(folder, "best.safetensors"),
        "optimizer_state": _join_optimizer(opt_tensors, opt_plain),
        "rng_states": rng,
        "history": history,
    }


def check_dims(saved: dict, train_dims: dict, where) -> None:
    """Raise ``ValueError`` naming each feature whose dimension differs from the checkpoint's."""
    diffs = [f"{k}: checkpoint has {saved.get(k)}, data has {v}" for k, v in train_dims.items() if saved.get(k) != v]
    if diffs:
        raise ValueError(f"feature dimensions do not match the checkpoint {where}: " + "; ".join(diffs))


def load_model(folder, which: str = "best", encoder: torch.nn.Module | None = None):
    """The `RetrievalModel` of a checkpoint (``which="best"`` or ``"last"``), in eval mode on the CPU.

    ``encoder`` must be given when the run used a custom encoder (e.g. an open_clip student); otherwise the
    MLP towers are rebuilt from the saved config and feature dims.
    """
    from .model import model_from_state

    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    folder = Path(folder)
    if not folder.exists() and (_staging(folder).exists() or _previous(folder).exists()):
        raise CheckpointError(f"checkpoint {folder} is missing after an interrupted save; resume the run (or call "
                              f"recover_checkpoint) to restore it")
    state = _read_tensors(folder, "best.safetensors" if which == "best" else "model.safetensors")
    return model_from_state(_config(folder), _trainer_state(folder)["dims"], state, encoder)
