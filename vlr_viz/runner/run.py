"""`run_training`: load a dataset and its cached features, train, evaluate the selected model on test, write a run folder.

Run folder::

    config.json                 the TrainConfig
    checkpoint/                 see `vlr_viz.train.checkpoint` (best and last epoch, optimiser, history)
    history.json, snapshots.npz see `vlr_viz.train.history`
    img_emb.npy, txt_emb.npy    test-split embeddings of the selected model (float32)
    txt_to_img.npy              the test split's caption → image map
    metrics.json                selected epoch, validation and test metrics, λ, seconds
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from safetensors.torch import save as save_tensors

from .. import distributed as dist_utils
from ..atomic import atomic_write_bytes
from ..errors import RunFolderError
from ..store.arrays import array_cache
from ..store.runs import RunStore, run_key
from ..train.checkpoint import recover_checkpoint, require_files
from ..train.config import TrainConfig
from ..train.data import PairFeatures
from ..train.model import encode, model_from_state
from ..train.span import RunSpan
from ..train.trainer import TrainResult, fit


def _splits(dataset, options) -> dict:
    if isinstance(dataset, dict):
        missing = {"train", "val", "test"} - set(dataset)
        if missing:
            raise ValueError(f"dataset mapping lacks split(s) {sorted(missing)}")
        return dataset
    from ..data import load_splits

    return load_splits(dataset, options, cache=array_cache())


def read_run_files(folder, names=("metrics.json", "img_emb.npy", "txt_emb.npy", "txt_to_img.npy")) -> dict:
    """``{name: content}`` of files of a run folder: ``.json`` parsed, ``.npy`` loaded without pickle.

    Raises `RunFolderError` naming the folder and every missing file, or the file that cannot be read
    (truncated, corrupt), before anything is computed from them.
    """
    folder = require_files(folder, names, "run folder", RunFolderError)
    out = {}
    for name in names:
        try:
            out[name] = (json.loads((folder / name).read_text(encoding="utf-8")) if name.endswith(".json")
                         else np.load(folder / name, allow_pickle=False))
        except (OSError, ValueError, EOFError, UnicodeDecodeError) as e:
            raise RunFolderError(f"run file {folder / name} is truncated or corrupt: {e}") from None
        if name.endswith(".json") and not isinstance(out[name], dict):
            raise RunFolderError(f"run file {folder / name} is corrupt: expected a JSON object")
    return out


def _save_npy(path: Path, array: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def run_training(config: TrainConfig, out_dir, dataset="twemoji", *, image_model: str | None = None,
                 text_model: str | None = None, cache_dir=None, resume: bool = False, progress: bool = True,
                 options=None, workers: int | None = None, store: bool = True, force: bool = False) -> dict:
    """Train ``config`` on ``dataset`` into ``out_dir``.

    ``dataset``: a dataset spec (`vlr_viz.data.load_splits`: ``"twemoji"``, ``"karpathy:JSON:ROOT"``,
    ``"features:DIR"`` ...; ``options`` its `DatasetOptions`) or a ``{"train", "val", "test"}`` mapping of
    PairSets. The same cached features (teachers by default: ``image_model`` / ``text_model``; a dataset of
    precomputed features brings its own) serve as student backbone input and as teachers. With ``resume=True`` an
    existing ``out_dir/checkpoint`` is continued (a save interrupted mid-swap is completed first, or refused with a
    message: `recover_checkpoint`). Returns the summary written to ``metrics.json``.

    A run trained before with the same config and features is read from the run store (`vlr_viz.store.runs`)
    instead of trained again (``"from_store": true`` in the summary; no ``checkpoint/`` is written then, the selected
    model is ``best.safetensors``); ``force=True`` retrains and replaces it, ``store=False`` bypasses the store.
    """
    from ..eval import recall_at_k
    from ..features import load_features

    t0 = time.perf_counter()
    out = Path(out_dir)
    ckpt = out / "checkpoint"
    resume_from = None  # checked before any feature is computed
    if resume:
        if dist_utils.is_main():
            recover_checkpoint(ckpt)  # completes an interrupted save, or refuses it with a message
        dist_utils.barrier()
        resume_from = ckpt if ckpt.exists() else None
    splits = _splits(dataset, options)
    feats, models = {}, {}
    for name, pairs in splits.items():
        f = load_features(pairs, image_model, text_model, cache_dir=cache_dir, progress=progress, workers=workers)
        models = {"image_model": f.image_model, "text_model": f.text_model}
        feats[name] = PairFeatures.from_features(f, pairs, name=name)
    test = feats["test"]
    runs = RunStore() if store and dist_utils.world_size() == 1 else None
    key = run_key(config, feats["train"], feats["val"], test) if runs is not None else None
    stored = runs.get(key) if runs is not None and not (force or resume_from) else None
    if stored is not None:
        s = stored.summary
        result = TrainResult(model_from_state(config, s["dims"], stored.state), stored.history, config,
                             s["best_epoch"], s["best_metrics"], s["last_epoch"], s["seconds"], s["lambda_info"])
        img, txt = stored.img_emb, stored.txt_emb
    else:
        result = fit(config, feats["train"], feats["val"], progress=progress,
                     span=RunSpan(checkpoint_dir=ckpt, resume_from=resume_from))
        img, txt = encode(result.model, test.image, test.text)
        if runs is not None:
            runs.put(key, config, result.model.state_dict(), result.history, img_emb=img, txt_emb=txt,
                     summary={"method": config.method, "seed": config.seed, "best_epoch": result.best_epoch,
                              "best_metrics": result.best_metrics, "last_epoch": result.last_epoch,
                              "seconds": result.seconds, "lambda_info": result.lambda_info,
                              "dims": feats["train"].dims(), "condition": str(dataset)})
    t2i = test.txt_to_img.numpy()
    test_metrics = recall_at_k(img, txt, t2i, return_ranks=False)
    summary = {
        "method": config.method, "dataset": dataset if isinstance(dataset, str) else "custom",
        "dataset_options": dataclasses.asdict(options) if options is not None else {},
        **models,
        "selected_epoch": result.best_epoch, "select_metric": config.select_metric,
        "val_rsum": result.best_metrics.get("rsum"), "test_rsum": test_metrics["rsum"],
        "val": result.best_metrics, "test": test_metrics,
        "lambda": result.model.scalars()["lam"], "tau2": result.model.scalars()["tau2"],
        "lambda_info": result.lambda_info, "train_seconds": result.seconds,
        "seconds": time.perf_counter() - t0, "from_store": stored is not None, "run_key": key,
    }
    if dist_utils.is_main():
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / "config.json", config.to_json().encode())
        result.history.save(out)
        _save_npy(out / "img_emb.npy", img.astype(np.float32))
        _save_npy(out / "txt_emb.npy", txt.astype(np.float32))
        _save_npy(out / "txt_to_img.npy", t2i.astype(np.int64))
        if stored is not None:
            atomic_write_bytes(out / "best.safetensors", save_tensors(stored.state))
        atomic_write_bytes(out / "metrics.json", json.dumps(summary, indent=1, default=float).encode())
    dist_utils.barrier()
    return summary
