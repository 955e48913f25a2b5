"""Checkpoints: tensors in safetensors files, everything else in JSON (nothing is unpickled on load).

A checkpoint folder holds::

    config.json            the TrainConfig
    trainer_state.json     epoch, step, best epoch / metric, feature dims, optimiser hyper-parameters, extras
    model.safetensors      the model state after ``epoch``
    best.safetensors       the state of the best epoch so far (what `load_model` returns by default)
    optimizer.safetensors  AdamW moments and step counts, the torch RNG state(s)
    history.json, snapshots.npz   the `History` up to ``epoch``

It is written to a sibling temporary folder and swapped in, so an interrupted write leaves the previous
checkpoint intact.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .config import TrainConfig
from .history import History

FILES = ("config.json", "trainer_state.json", "model.safetensors", "best.safetensors", "optimizer.safetensors")


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


def save_checkpoint(folder, *, config: TrainConfig, model_state: dict, best_state: dict, optimizer_state: dict,
                    rng_states: dict[str, torch.Tensor], trainer_state: dict, history: History) -> Path:
    """Write a checkpoint folder (atomically swapped in); returns its path."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    opt_tensors, opt_plain = _split_optimizer(optimizer_state)
    opt_tensors.update({f"rng.{k}": v for k, v in rng_states.items()})
    save_file(_tensors(model_state), tmp / "model.safetensors")
    save_file(_tensors(best_state), tmp / "best.safetensors")
    save_file(_tensors(opt_tensors), tmp / "optimizer.safetensors")
    (tmp / "config.json").write_text(config.to_json())
    (tmp / "trainer_state.json").write_text(json.dumps({**trainer_state, "optimizer": opt_plain}, indent=1))
    history.save(tmp)
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def load_checkpoint(folder) -> dict:
    """``{"config", "trainer_state", "model_state", "best_state", "optimizer_state", "rng_states", "history"}``."""
    folder = Path(folder)
    missing = [f for f in FILES if not (folder / f).exists()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a complete checkpoint: missing {missing}")
    trainer_state = json.loads((folder / "trainer_state.json").read_text())
    opt_plain = trainer_state.pop("optimizer")
    opt_tensors = load_file(folder / "optimizer.safetensors")
    rng = {k[4:]: opt_tensors.pop(k) for k in list(opt_tensors) if k.startswith("rng.")}
    return {
        "config": TrainConfig.from_dict(json.loads((folder / "config.json").read_text())),
        "trainer_state": trainer_state,
        "model_state": load_file(folder / "model.safetensors"),
        "best_state": load_file(folder / "best.safetensors"),
        "optimizer_state": _join_optimizer(opt_tensors, opt_plain),
        "rng_states": rng,
        "history": History.load(folder),
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
    from .model import RetrievalModel, build_mlp_encoder

    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    folder = Path(folder)
    config = TrainConfig.from_dict(json.loads((folder / "config.json").read_text()))
    state = json.loads((folder / "trainer_state.json").read_text())
    dims = state["dims"]
    if encoder is None:
        if len(dims["image"]) != 1 or len(dims["text"]) != 1:
            raise ValueError("this checkpoint has a custom encoder: pass encoder=")
        encoder = build_mlp_encoder(config, dims["image"][0], dims["text"][0])
    model = RetrievalModel(encoder, config.embed_dim, dims["teacher_image"], dims["teacher_text"], config)
    model.load_state_dict(load_file(folder / ("best.safetensors" if which == "best" else "model.safetensors")))
    return model.eval()
