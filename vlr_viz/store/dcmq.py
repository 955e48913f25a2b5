"""DCMQ passes read back instead of retrained: `fit_dcmq_runs_stored` is `fit_dcmq_runs` through the run store.

A pass (the runs of one code length trained together) is a pure function of its configs, the contents of its
training and validation splits and the training code (`DCMQ_CODE_VERSION`); their content hash keys an entry under
``dcmq/`` of the run store (`vlr_viz.store.runs`), written and checked like a stored run (every file's SHA-256 in
a manifest written last, one rename into place; a damaged entry is reported and trained again)::

    configs.json           the DCMQConfig of every run
    student.safetensors    the stacked students at their selected epochs
    codes.safetensors      the training split's image and text codes and the codeword usage of every run
    summary.json           dims, selected epochs, validation metrics, seconds, the per-epoch histories
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from ..keys import content_hash
from ..models.code_student import CodeStudents
from ..train.data import PairFeatures
from ..train.dcmq.config import DCMQConfig
from ..train.dcmq.fit import fit_dcmq_runs
from ..train.dcmq.result import DCMQResult, codeword_counts
from ..train.device import resolve_device
from .entry import EntryFolder
from .locations import default_store_dir
from .runs import fingerprint

DCMQ_CODE_VERSION = "1"
"""Changes whenever the DCMQ training code computes something else for the same inputs (it keys every entry)."""


def dcmq_key(configs: list[DCMQConfig], train: PairFeatures, val: PairFeatures | None) -> str:
    """The store key of training ``configs`` in one pass on ``train``, selected on ``val``."""
    return content_hash("dcmq", [c.to_dict() for c in configs], fingerprint(train),
                        None if val is None else fingerprint(val), DCMQ_CODE_VERSION)


def _files(results: list[DCMQResult]) -> dict[str, bytes]:
    stacked = {k: torch.cat([r.student.state_dict()[k] for r in results]) for k in results[0].student.state_dict()}
    codes = {}
    for g, r in enumerate(results):
        codes[f"image_codes.{g}"] = torch.from_numpy(np.ascontiguousarray(r.image_codes))
        codes[f"text_codes.{g}"] = torch.from_numpy(np.ascontiguousarray(r.text_codes))
        codes[f"codeword_usage.{g}"] = torch.from_numpy(np.ascontiguousarray(r.codeword_usage))
    student = results[0].student
    summary = {"dim": student.dim, "best_epochs": [r.best_epoch for r in results],
               "val_metrics": [r.val_metrics for r in results], "seconds": [r.seconds for r in results],
               "histories": [r.history.to_dict("split") for r in results]}
    return {"configs.json": json.dumps([r.config.to_dict() for r in results], indent=1).encode(),
            "student.safetensors": save({k: v.detach().cpu().contiguous() for k, v in stacked.items()}),
            "codes.safetensors": save(codes),
            "summary.json": json.dumps(summary, default=float).encode()}


def _results(files: dict[str, bytes], configs: list[DCMQConfig], train: PairFeatures,
             device: torch.device) -> list[DCMQResult]:
    """The results of an entry's files, after checking that they are those of ``configs`` trained on ``train``:
    the same configs, a summary with one value per run, the student's tensors of their shapes, codes of one row per
    training image / caption and one column per sub-codebook, within the codebook and counted by the usage;
    ``ValueError`` saying what is wrong otherwise (an entry can be damaged behind a matching checksum)."""
    if json.loads(files["configs.json"]) != json.loads(json.dumps([c.to_dict() for c in configs])):
        raise ValueError("configs.json holds other configs than the entry's key")
    summary = json.loads(files["summary.json"])
    groups, c0 = len(configs), configs[0]
    if not isinstance(summary, dict) or summary.get("dim") != train.image.shape[1] or not all(
            isinstance(summary.get(k), list) and len(summary[k]) == groups
            for k in ("best_epochs", "val_metrics", "seconds", "histories")):
        raise ValueError(f"summary.json is not the summary of {groups} run(s) on {train.image.shape[1]}-d features")
    student = CodeStudents(groups, summary["dim"], c0.bits, c0.num_codewords)
    student.load_state_dict(load(files["student.safetensors"]))  # RuntimeError: a tensor of another shape
    student = student.to(device)
    codes = {k: v.numpy() for k, v in load(files["codes.safetensors"]).items()}
    m, k = student.num_books, c0.num_codewords
    out = []
    for g, config in enumerate(configs):
        image, text, usage = (codes[f"{n}.{g}"] for n in ("image_codes", "text_codes", "codeword_usage"))
        if image.shape != (train.n_images, m) or text.shape != (train.n_captions, m) or usage.shape != (m, k):
            raise ValueError(f"codes.safetensors: the codes of run {g} have the shapes {image.shape}, {text.shape}, "
                             f"{usage.shape}, not ({train.n_images}, {m}), ({train.n_captions}, {m}), ({m}, {k})")
        both = np.concatenate([image, text]).astype(np.int64)
        if both.min() < 0 or both.max() >= k or not np.array_equal(usage, codeword_counts(both, k)):
            raise ValueError(f"codes.safetensors: the codes of run {g} are not codewords counted by its usage")
        h = summary["histories"][g]
        out.append(DCMQResult(config, student.select(g).eval(), pd.DataFrame(h["data"], h["index"], h["columns"]),
                              summary["best_epochs"][g], image, text, usage, summary["val_metrics"][g],
                              summary["seconds"][g]))
    return out


def fit_dcmq_runs_stored(configs: list[DCMQConfig], train: PairFeatures, val: PairFeatures | None = None,
                         progress: bool = False, store: EntryFolder | None = None,
                         force: bool = False) -> tuple[list[DCMQResult], bool]:
    """``(results, hit)``: `fit_dcmq_runs` of ``configs``, read from the store when this pass was trained before
    (``force`` trains again and replaces the entry; ``store`` defaults to ``dcmq/`` of the run store)."""
    store = store or EntryFolder(default_store_dir() / "dcmq")
    key = dcmq_key(configs, train, val)
    files = None if force else store.get_files(key)
    if files is not None:
        try:
            return _results(files, configs, train, resolve_device(configs[0].device)), True
        except (KeyError, ValueError, TypeError, AttributeError, RuntimeError, SafetensorError) as e:
            store.discard(key, e)
    results = fit_dcmq_runs(configs, train, val, progress=progress)
    store.put_files(key, _files(results))
    return results, False
