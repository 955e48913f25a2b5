"""Several runs of the same shape trained as one batched model, each giving the numbers of its own `fit`.

Runs of the same shape share the towers' architecture and the schedule (epochs, batch size, learning rate): several
seeds of one config, and also different methods and loss settings (``baseline``, ``sad``, ``sad-kl`` ...). The
towers of all S runs are stacked (weights ``(S, out, in)``) and run as batched matrix products over ``(S, B, D)``
inputs, one backward and one AdamW step for all; everything else stays per seed, exactly as `fit` does it:

- initialisation: each seed's `RetrievalModel` is built under its own ``torch.manual_seed(seed)``;
- batch order: ``caption_batches(n, batch, seed, epoch)`` of each seed;
- dropout: each seed keeps the torch RNG state its own run would have and draws its masks from it, in its run's order;
- λ, τ, τ2, the teacher projections: each seed's own modules;
- validation, relation snapshots and the selected epoch: per seed, on that seed's model.

The losses of the runs are summed; no parameter is shared, so each run's gradient is the one it sees alone. The
result equals S separate `fit` calls up to float rounding (a test checks it). Supported: the MLP towers, methods
whose `~vlr_viz.methods` object ``trains_together`` (``baseline``, ``sad``; CoVLR's meta step trains alone).

When it pays: batching saves kernel launches and Python overhead per step, which is what limits small models on a
GPU. On a CPU the work is the same matrix products either way and the batched backward (``baddbmm``) is slower
than S plain ones (``benchmarks/bench_train_runs.py`` measures both). `fit_batched` therefore trains together only when asked (``together=True``)
or, by default, when the runs are on a CUDA device; elsewhere it trains them one after the other, with the same
numbers.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..losses import weighted_sum
from ..methods import get_method
from .. import distributed as dist_utils
from ..train.config import TrainConfig
from ..train.data import PairFeatures, caption_batches
from ..train.device import resolve_device
from ..train.epoch_records import snapshot_due
from ..train.history import History
from ..train.model import RetrievalModel, build_mlp_encoder
from ..train.trainer import (CATEGORY_METRICS, NonFiniteLossError, TrainResult, _is_better, _lr_at, _resolve_probe,
                      _to_device, adamw, epoch_row, initial_epoch_row, mixed_precision,
                      relation_snapshot, stage_weights, validate)
from .stage1_sharing import fit_sharing_stage1


class StackedTower:
    """The MLP towers (`vlr_viz.models.towers.MLPTower`) of S seeds as stacked leaf tensors."""

    def __init__(self, towers: Sequence[torch.nn.Module], dropout: float):
        self.depth = (len(towers[0].net) - 1) // 4 + 1
        self.dropout = dropout
        names = [n for n, _ in towers[0].named_parameters()]
        self.params = {n: torch.stack([dict(t.named_parameters())[n].detach() for t in towers]).requires_grad_()
                       for n in names}

    def forward(self, x: torch.Tensor, rng_states: list[torch.Tensor], training: bool) -> torch.Tensor:
        """``(S, B, D_in)`` → L2-normalised ``(S, B, D_out)``; dropout of seed s from ``rng_states[s]`` (updated)."""
        h = x
        for layer in range(self.depth - 1):
            w, b = self.params[f"net.{4 * layer}.weight"], self.params[f"net.{4 * layer}.bias"]
            h = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
            g, beta = self.params[f"net.{4 * layer + 1}.weight"], self.params[f"net.{4 * layer + 1}.bias"]
            h = F.layer_norm(h, h.shape[-1:]) * g[:, None, :] + beta[:, None, :]
            h = F.gelu(h)
            if training and self.dropout > 0:
                slices = []
                for s in range(h.shape[0]):
                    torch.set_rng_state(rng_states[s])
                    slices.append(F.dropout(h[s], self.dropout, training=True))
                    rng_states[s] = torch.get_rng_state()
                h = torch.stack(slices)
        last = 4 * (self.depth - 1)
        w, b = self.params[f"net.{last}.weight"], self.params[f"net.{last}.bias"]
        return F.normalize(torch.baddbmm(b[:, None, :], h, w.transpose(1, 2)), dim=-1)

    def copy_into(self, towers: Sequence[torch.nn.Module]) -> None:
        """Write each seed's slice into its own tower (for validation, snapshots and the result)."""
        with torch.no_grad():
            for s, tower in enumerate(towers):
                for n, p in tower.named_parameters():
                    p.copy_(self.params[n][s])


def _param_groups(stacked: list[StackedTower], models: list[RetrievalModel], weight_decay: float) -> list[dict]:
    """AdamW groups as `vlr_viz.train.trainer._optimizer` makes them: decay on weight matrices only (a stacked
    tensor decays when one seed's slice is a matrix)."""
    decay, no_decay = [], []
    for tower in stacked:
        for p in tower.params.values():
            (decay if p.ndim >= 3 else no_decay).append(p)
    for model in models:
        for name, p in model.named_parameters():
            if name.startswith("encoder.") or not p.requires_grad:
                continue
            (decay if p.ndim >= 2 and not name.startswith(("logit_scale.", "fusion.")) else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


SHAPE_FIELDS = ("epochs_stage1", "epochs_stage2", "batch_size", "lr", "weight_decay", "warmup_frac", "schedule",
                "embed_dim", "hidden", "depth", "dropout", "select_metric", "select_best", "snapshot_every", "n_probe",
                "device", "precision")
"""`TrainConfig` fields that runs trained together must share."""


def fit_seeds(config: TrainConfig, seeds: Sequence[int], train: PairFeatures, val: PairFeatures, *, probe=None,
              progress: bool = False, together: bool | None = None) -> list[TrainResult]:
    """One `TrainResult` per seed of ``seeds`` for ``config`` (its own ``seed`` ignored); ``together`` as in
    `fit_batched`."""
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be distinct and not empty, got {seeds}")
    return fit_batched([replace(config, seed=s) for s in seeds], train, val, probe=probe, progress=progress,
                       together=together)


def fit_batched(configs: Sequence[TrainConfig], train: PairFeatures, val: PairFeatures, *, probe=None,
                progress: bool = False, together: bool | None = None, stage1_store=None) -> list[TrainResult]:
    """One `TrainResult` per config, the runs trained as one batched model (module docstring). The configs must
    agree on `SHAPE_FIELDS`; CoVLR runs, and everything in a multi-process run, train one by one, those of one
    `vlr_viz.train.stage1.stage1_signature` sharing their stage 1 (`fit_sharing_stage1`, which reads and fills
    ``stage1_store`` when given). ``together``: ``None`` batches the runs on a CUDA device only (where it pays,
    module docstring), ``True`` always, ``False`` never."""
    configs = list(configs)
    if not configs:
        raise ValueError("fit_batched needs at least one config")
    if len({c.to_json() for c in configs}) != len(configs):
        raise ValueError("fit_batched got the same config twice: a run would be trained twice")
    differ = [f for f in SHAPE_FIELDS if len({getattr(c, f) for c in configs}) > 1]
    if differ:
        raise ValueError(f"runs trained together must agree on {differ}")
    if together is None:
        together = resolve_device(configs[0].device).type == "cuda"
    alone = [c for c in configs if not together or not get_method(c.method).trains_together
             or dist_utils.is_distributed()]
    batch = [c for c in configs if c not in alone]
    if len(batch) < 2:
        return fit_sharing_stage1(configs, train, val, probe=probe, progress=progress, stage1_store=stage1_store)
    results = dict(zip(map(id, batch), _fit_together(batch, train, val, probe, progress)))
    results.update(zip(map(id, alone), fit_sharing_stage1(alone, train, val, probe=probe, progress=progress,
                                                          stage1_store=stage1_store)))
    return [results[id(c)] for c in configs]


def _fit_together(configs: list[TrainConfig], train: PairFeatures, val: PairFeatures, probe,
                  progress: bool) -> list[TrainResult]:
    config = configs[0]
    device = resolve_device(config.device)
    dims = train.dims()
    if config.batch_size > train.n_captions:
        raise ValueError(f"batch_size {config.batch_size} is larger than the training split "
                         f"({train.n_captions} captions)")
    if len(dims["image"]) != 1 or len(dims["text"]) != 1:
        raise ValueError("fit_seeds trains the MLP towers on 2-D features")
    probe_idx = _resolve_probe(probe, val, config)
    t_start = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        models, rng_states, infos = [], [], []
        for c in configs:
            torch.manual_seed(c.seed)
            lam0, info = get_method(c.method).initial_lambda(c, train)
            model = RetrievalModel(build_mlp_encoder(c, dims["image"][0], dims["text"][0]), c.embed_dim,
                                   dims["teacher_image"], dims["teacher_text"], c, init_lambda=lam0).to(device)
            models.append(model)
            rng_states.append(torch.get_rng_state())
            infos.append(info)
        return _fit_stacked(configs, models, rng_states, infos, train, val, probe_idx, device, dims, progress,
                            t_start)


def _fit_stacked(configs, models, rng_states, infos, train, val, probe_idx, device, dims, progress,
                 t_start) -> list[TrainResult]:
    config, n_seeds = configs[0], len(configs)
    towers = {side: StackedTower([getattr(m.encoder, f"{side}_tower") for m in models], config.dropout)
              for side in ("image", "text")}
    opt = adamw(_param_groups(list(towers.values()), models, config.weight_decay), config.lr)
    train_dev, val_dev = _to_device(train, device), _to_device(val, device)
    steps_per_epoch = train.n_captions // config.batch_size
    probe_images = val.txt_to_img[probe_idx].numpy()
    labels = val.labels[probe_images] if val.labels is not None else np.full(probe_idx.size, -1)
    histories = [History(meta={"config": c.to_dict(), **info, "dims": dims, "device": str(device),
                               "world_size": 1, "n_train_captions": train.n_captions,
                               "n_val_captions": val.n_captions, "steps_per_epoch": steps_per_epoch,
                               "trained_together": len(configs)},
                         probe={"captions": probe_idx, "images": probe_images, "labels": labels})
                 for c, info in zip(configs, infos)]
    best = [{"state": None, "epoch": 0, "metric": None, "metrics": {}} for _ in configs]
    for model, history, c in zip(models, histories, configs):
        metrics = validate(model, val_dev, c.select_metric in CATEGORY_METRICS)
        history.add_epoch(initial_epoch_row(model.scalars(), metrics))
        history.add_snapshot(0, relation_snapshot(model, val_dev, probe_idx, c))
    step = 0
    for epoch in tqdm(range(1, config.epochs + 1), disable=not progress, desc=f"{n_seeds} runs together",
                      unit="epoch"):
        t_epoch = time.perf_counter()
        rows, step = _stacked_epoch(configs, models, towers, rng_states, opt, train_dev, epoch, step,
                                    steps_per_epoch)
        for tower_side in ("image", "text"):
            towers[tower_side].copy_into([getattr(m.encoder, f"{tower_side}_tower") for m in models])
        for s, (model, history, c) in enumerate(zip(models, histories, configs)):
            history.add_steps(rows[s])
            metrics = validate(model, val_dev, c.select_metric in CATEGORY_METRICS)
            means = {k: float(np.mean([r[k] for r in rows[s]])) for k in rows[s][0] if k not in
                     ("step", "epoch", "stage", "lr")}
            history.add_epoch(epoch_row(epoch, rows[s], means, model.scalars(), metrics,
                                        (time.perf_counter() - t_epoch) / n_seeds))
            if snapshot_due(c, epoch):
                history.add_snapshot(epoch, relation_snapshot(model, val_dev, probe_idx, c))
            value = metrics[c.select_metric]
            if _is_better(c.select_metric, value, best[s]["metric"]) or not c.select_best:
                best[s] = {"state": {k: v.detach().clone() for k, v in model.state_dict().items()}, "epoch": epoch,
                           "metric": value, "metrics": metrics}
    seconds = (time.perf_counter() - t_start) / n_seeds
    results = []
    for model, history, c, b, info in zip(models, histories, configs, best, infos):
        if b["state"] is not None:
            model.load_state_dict(b["state"])
        model.eval()
        history.meta.update(best_epoch=b["epoch"], best_metric=b["metric"], select_metric=c.select_metric)
        results.append(TrainResult(model=model, history=history, config=c, best_epoch=b["epoch"],
                                   best_metrics=b["metrics"], last_epoch=c.epochs, seconds=seconds, lambda_info=info))
    return results


def _stacked_epoch(configs, models, towers, rng_states, opt, data: PairFeatures, epoch: int, step: int,
                   steps_per_epoch: int) -> tuple[list[list[dict]], int]:
    """One epoch of batched steps; returns each seed's step rows and the next step index."""
    config = configs[0]
    stage = 1 if epoch <= config.epochs_stage1 else 2
    weights = [stage_weights(c, stage) for c in configs]
    for model in models:
        model.train()
    batches = [caption_batches(data.n_captions, config.batch_size, c.seed, epoch) for c in configs]
    rows: list[list[dict]] = [[] for _ in configs]
    for per_seed in zip(*batches):
        lr = _lr_at(config, step, steps_per_epoch)  # the schedule is one of the shared fields
        for group in opt.param_groups:
            group["lr"] = lr
        captions = torch.stack(per_seed).to(data.text.device)  # (S, B)
        img_id = data.txt_to_img[captions]
        with mixed_precision(config, data.text.device):  # precision is one of the shared fields
            v = towers["image"].forward(data.image[img_id], rng_states, training=True)
            t = towers["text"].forward(data.text[captions], rng_states, training=True)
        totals, logged = [], []
        for s, model in enumerate(models):
            with mixed_precision(config, data.text.device):
                terms = get_method(configs[s].method).terms_of_embeddings(
                    model, v[s], t[s], data.teacher_image[img_id[s]], data.teacher_text[captions[s]], img_id[s],
                    configs[s], stage)
            terms = {k: x.float() for k, x in terms.items()}
            total, weighted = weighted_sum(terms, weights[s])
            if not torch.isfinite(total):
                bad = [f"{k}={x.item()}" for k, x in terms.items() if not torch.isfinite(x)]
                raise NonFiniteLossError(f"seed {configs[s].seed}: non-finite loss at epoch {epoch}, step {step}: "
                                         f"{', '.join(bad) or f'total={total.item()}'}")
            totals.append(total)
            logged.append((terms, weighted, total))
        opt.zero_grad(set_to_none=True)
        torch.stack(totals).sum().backward()
        opt.step()
        for s, (terms, weighted, total) in enumerate(logged):
            m = models[s]
            rows[s].append({"step": step, "epoch": epoch, "stage": stage, "lr": lr, "loss": total.item(),
                            **{k: x.item() for k, x in terms.items()},
                            **{f"w_{k}": x.item() for k, x in weighted.items()},
                            "lam": m.fusion.lam.item(), "tau": m.logit_scale.tau.item(),
                            "tau2": m.fusion.tau2.item()})
        step += 1
    return rows, step
