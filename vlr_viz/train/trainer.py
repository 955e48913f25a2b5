"""`fit`: train a student for one `TrainConfig` on cached features, select the epoch on validation, log everything.

A step samples a batch of captions (each with its image; a repeated image is recognised through ``img_id``),
computes the method's named loss terms, sums them with the config's weights and takes one AdamW step. The
per-step and per-epoch terms, λ, τ, τ2, the learning rate, validation metrics and relation snapshots of a fixed
probe subset go into a `History`. The test split is never touched here.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..eval import recall_at_k
from ..eval.category import category_retrieval
from ..imbalance.diagnostics import modality_gap
from ..losses import weighted_sum
from ..methods import get_method
from .. import distributed as dist_utils
from .checkpoint import check_dims, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import PairFeatures, caption_batches, select_probe
from .device import resolve_device
from .history import History
from .epoch_records import epoch_row, initial_epoch_row, relation_snapshot, rng_states, snapshot_due, step_rows
from .model import RetrievalModel, build_mlp_encoder, encode
from .span import RunSpan
from .stage1 import Stage1Recorder

LOWER_IS_BETTER = ("medr", "meanr")


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or inf; training stopped and the last good checkpoint (if any) was kept."""


@dataclass
class TrainResult:
    """Outcome of `fit`: ``model`` holds the selected epoch's weights (the last epoch if ``select_best`` is off)."""

    model: RetrievalModel
    history: History
    config: TrainConfig
    best_epoch: int
    best_metrics: dict
    last_epoch: int
    seconds: float
    lambda_info: dict = field(default_factory=dict)


def stage_weights(config: TrainConfig, stage: int) -> dict[str, float]:
    """Weights of the terms of a stage: stage 1 matching only, stage 2 the method's objective (`get_method`)."""
    return get_method(config.method).stage_weights(config, stage)


def mixed_precision(config: TrainConfig, device: torch.device):
    """``torch.autocast`` in bfloat16 for ``config.precision == "bf16"`` (`TrainConfig`), a no-op for fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")


def batch_terms(model: RetrievalModel, data: PairFeatures, captions: torch.Tensor, config: TrainConfig,
                stage: int) -> dict[str, torch.Tensor]:
    """Raw loss terms of one batch (``captions``: this rank's caption indices; terms span the global batch), in
    float32 (computed under `mixed_precision`)."""
    img_id = data.txt_to_img[captions]
    with mixed_precision(config, data.text.device):
        terms = get_method(config.method).batch_terms(model, data.image[img_id], data.text[captions],
                                                      data.teacher_image[img_id], data.teacher_text[captions],
                                                      img_id, config, stage)
    return {k: v.float() for k, v in terms.items()}


CATEGORY_METRICS = ("category_map", "category_R@1", "category_R@5", "category_R@10")
"""Validation metrics judged by category (`vlr_viz.eval.category`), computed when one is the ``select_metric``: the
selection criterion for datasets whose captions name only a class, where instance-level R@K is chance."""


def validate(model: RetrievalModel, data: PairFeatures, category: bool = False) -> dict[str, float]:
    """Cross-modal retrieval metrics of the whole split (`vlr_viz.eval.recall_at_k`) and its ``modality_gap``
    (`vlr_viz.imbalance.modality_gap`, Liang et al. 2022), so that the history follows the gap over training;
    with ``category`` (and labels) also `CATEGORY_METRICS` (mean of i2t and t2i)."""
    img, txt = encode(model, data.image, data.text)
    t2i = data.txt_to_img.cpu().numpy()
    metrics = {**recall_at_k(img, txt, t2i, return_ranks=False), "modality_gap": modality_gap(img, txt)}
    if category and data.labels is not None:
        c = category_retrieval(img, txt, data.labels, data.labels[t2i])
        metrics["category_map"] = c["map_mean"]
        metrics.update({f"category_R@{k}": (c[f"i2t_R@{k}"] + c[f"t2i_R@{k}"]) / 2 for k in (1, 5, 10)})
    return metrics


def _is_better(metric: str, new: float, best: float | None) -> bool:
    if best is None:
        return True
    return new < best if metric.endswith(LOWER_IS_BETTER) else new > best


def _lr_at(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Per stage (as two runs would): linear warm-up over ``warmup_frac`` of the stage, then cosine to 0 or constant."""
    stage1 = config.epochs_stage1 * steps_per_epoch
    if step < stage1:
        local, length = step, stage1
    else:
        local, length = step - stage1, config.epochs_stage2 * steps_per_epoch
    warm = int(config.warmup_frac * length)
    if local < warm:
        return config.lr * (local + 1) / warm
    if config.schedule == "constant":
        return config.lr
    progress = (local - warm) / max(length - warm, 1)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def adamw(groups, lr: float) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel: one pass over all parameters instead of a loop over tensors, the same update
    rule."""
    return torch.optim.AdamW(groups, lr=lr, fused=True)


def _optimizer(model: RetrievalModel, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on weight matrices of the encoder and projections, none on biases, norms, scalars."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        scalar_part = name.startswith(("logit_scale.", "fusion."))
        (decay if p.ndim >= 2 and not scalar_part else no_decay).append(p)
    return adamw([{"params": decay, "weight_decay": config.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}], config.lr)


def _resolve_probe(probe, val: PairFeatures, config: TrainConfig) -> np.ndarray:
    if probe is None:
        return select_probe(val.txt_to_img.cpu().numpy(), val.labels, config.n_probe)
    if isinstance(probe, int):
        return select_probe(val.txt_to_img.cpu().numpy(), val.labels, probe)
    probe = np.asarray(probe, dtype=np.int64)
    if probe.ndim != 1 or probe.size < 2 or probe.min() < 0 or probe.max() >= val.n_captions:
        raise ValueError(f"probe must be at least 2 validation caption indices in [0, {val.n_captions})")
    return probe


def fit(config: TrainConfig, train: PairFeatures, val: PairFeatures, *, probe=None, progress: bool = True,
        encoder: torch.nn.Module | None = None, span: RunSpan | None = None) -> TrainResult:
    """Train one student; returns the model of the best validation epoch and the full `History`.

    Args:
        config: the run's settings.
        train, val: `PairFeatures` of the training and validation splits (test is never used here).
        probe: validation caption indices whose relations are snapshotted, or their number, or ``None``
            (``config.n_probe`` pairs spread over categories, see `select_probe`).
        progress: show a progress bar (rank 0).
        encoder: a student encoder to use instead of the MLP towers (``encode_image``, ``encode_text`` and
            ``forward(image, text) -> (v, t)``), e.g. `vlr_viz.models.open_clip_student.OpenCLIPStudent`.
        span: where the run starts (its first epoch, a checkpoint or a shared stage 1), where it stops and what it
            leaves behind (checkpoints, its stage 1): a `RunSpan`; ``None`` trains the whole run and keeps only the
            result.

    Raises:
        NonFiniteLossError: a term became NaN/inf (named in the message); the checkpoint folder keeps the
            last good epoch.

    Deterministic on the CPU for a given seed: batch order comes from ``(seed, epoch)``, dropout from the torch
    generator seeded once per run (the caller's RNG state is restored afterwards).
    """
    t_start = time.perf_counter()
    span = span or RunSpan()
    world = dist_utils.world_size()
    if config.batch_size > train.n_captions:
        raise ValueError(f"batch_size {config.batch_size} is larger than the training split "
                         f"({train.n_captions} captions)")
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} must divide by the number of processes ({world})")
    if span.until_epoch is not None and not 1 <= span.until_epoch <= config.epochs:
        raise ValueError(f"until_epoch must lie in [1, {config.epochs}], got {span.until_epoch}")
    if span.stage1 is not None:
        span.stage1.check(config, train, val)
    if val.n_captions < 2:
        raise ValueError("the validation split needs at least 2 captions")
    device = resolve_device(config.device)
    if device.type == "cuda" and dist_utils.is_distributed():
        device = torch.device("cuda", torch.cuda.current_device())
    dims = train.dims()
    if val.dims() != dims:
        raise ValueError(f"validation feature dims {val.dims()} differ from training dims {dims}")
    if encoder is None and (len(dims["image"]) != 1 or len(dims["text"]) != 1):
        raise ValueError("the MLP towers need 2-D image and text features; pass encoder= for other inputs")
    if encoder is not None and getattr(encoder, "embed_dim", config.embed_dim) != config.embed_dim:
        raise ValueError(f"encoder embeds into {encoder.embed_dim} dims but config.embed_dim is {config.embed_dim}")
    probe_idx = _resolve_probe(probe, val, config)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        return _fit(config, train, val, probe_idx, progress, encoder, span, device, dims, t_start)


def _to_device(data: PairFeatures, device: torch.device) -> PairFeatures:
    return PairFeatures(*(x.to(device) for x in (data.image, data.text, data.txt_to_img, data.teacher_image,
                                                 data.teacher_text)), labels=data.labels, name=data.name)


def _train_epoch(model, opt, data: PairFeatures, config: TrainConfig, epoch: int, step: int, steps_per_epoch: int,
                 checkpoint_note: str) -> tuple[list[dict], list[str], np.ndarray, int]:
    """One epoch of steps; returns each step's ``{step, epoch, stage, lr}``, the names and float32 table of the
    values logged per step (`step_rows` makes the history's rows of them), and the next step index."""
    stage = 1 if epoch <= config.epochs_stage1 else 2
    weights = stage_weights(config, stage)
    sharded = list(model.encoder.parameters())
    replicated = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    model.train()
    values, infos, keys = [], [], []
    for captions in caption_batches(data.n_captions, config.batch_size, config.seed, epoch):
        lr = _lr_at(config, step, steps_per_epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        terms = batch_terms(model, data, dist_utils.shard(captions).to(data.text.device), config, stage)
        total, weighted = weighted_sum(terms, weights)
        if not torch.isfinite(total):
            bad = [f"{k}={v.item()}" for k, v in terms.items() if not torch.isfinite(v)]
            raise NonFiniteLossError(f"non-finite loss at epoch {epoch}, step {step}: "
                                     f"{', '.join(bad) or f'total={total.item()}'}; training stopped, {checkpoint_note}")
        opt.zero_grad(set_to_none=True)
        total.backward()
        dist_utils.sync_gradients(sharded, replicated)
        opt.step()
        keys = ["loss", *terms, *(f"w_{k}" for k in weighted), "lam", "tau", "tau2"]
        values.append(torch.stack([total.detach(), *(v.detach() for v in terms.values()),
                                   *(v.detach() for v in weighted.values()), model.fusion.lam.detach(),
                                   model.logit_scale.tau.detach(), model.fusion.tau2.detach()]).float())
        infos.append({"step": step, "epoch": epoch, "stage": stage, "lr": lr})
        step += 1
    return infos, keys, torch.stack(values).cpu().numpy(), step  # one device sync per epoch


def _fit(config, train, val, probe_idx, progress, encoder, span: RunSpan, device, dims, t_start) -> TrainResult:
    checkpoint_dir, resume_from, stage1, record_stage1 = (span.checkpoint_dir, span.resume_from, span.stage1,
                                                          span.record_stage1)
    until_epoch = span.until_epoch or config.epochs
    lam0, lambda_info = get_method(config.method).initial_lambda(config, train)
    if encoder is None:
        encoder = build_mlp_encoder(config, dims["image"][0], dims["text"][0])
    model = RetrievalModel(encoder, config.embed_dim, dims["teacher_image"], dims["teacher_text"], config,
                           init_lambda=lam0).to(device)
    dist_utils.broadcast_parameters(model)
    opt = _optimizer(model, config)
    train_dev, val_dev = _to_device(train, device), _to_device(val, device)
    steps_per_epoch = train.n_captions // config.batch_size
    probe_images = val.txt_to_img[probe_idx].numpy()
    history = History(meta={"config": config.to_dict(), **lambda_info, "dims": dims, "device": str(device),
                            "world_size": dist_utils.world_size(), "n_train_captions": train.n_captions,
                            "n_val_captions": val.n_captions, "steps_per_epoch": steps_per_epoch},
                      probe={"captions": probe_idx, "images": probe_images,
                             "labels": (val.labels[probe_images] if val.labels is not None
                                        else np.full(probe_idx.size, -1))})
    best = {"state": None, "epoch": 0, "metric": None, "metrics": {}}
    start_epoch, step = 1, 0
    recorder = None
    if record_stage1 is not None and stage1 is None and resume_from is None and config.epochs_stage1 >= 1:
        recorder = Stage1Recorder(config, train, val)
    if stage1 is not None:
        start_epoch, step, best = stage1.apply(model, opt, history, config, val_dev, probe_idx)
    elif resume_from is not None:
        ck = load_checkpoint(resume_from)
        if ck["config"].to_dict() != config.to_dict():
            diff = sorted(k for k, v in config.to_dict().items() if ck["config"].to_dict().get(k) != v)
            raise ValueError(f"cannot resume from {resume_from}: config differs in {diff}")
        check_dims(ck["trainer_state"]["dims"], dims, resume_from)
        model.load_state_dict(ck["model_state"])
        opt.load_state_dict(ck["optimizer_state"])
        torch.set_rng_state(ck["rng_states"]["cpu"])
        if "cuda" in ck["rng_states"] and device.type == "cuda":
            torch.cuda.set_rng_state(ck["rng_states"]["cuda"], device)
        st = ck["trainer_state"]
        start_epoch, step = st["epoch"] + 1, st["step"]
        best = {"state": ck["best_state"], "epoch": st["best_epoch"], "metric": st["best_metric"],
                "metrics": st["best_metrics"]}
        history = ck["history"]
        history.truncate(st["epoch"])
        lambda_info = {k: history.meta[k] for k in ("lambda_mode", "lambda_param", "lambda_init", "reliability")
                       if k in history.meta}
    else:
        metrics = validate(model, val_dev, config.select_metric in CATEGORY_METRICS)
        if config.select_metric not in metrics:
            raise ValueError(f"select_metric {config.select_metric!r} is not a validation metric; "
                             f"choose from {sorted(metrics)}")
        history.add_epoch(initial_epoch_row(model.scalars(), metrics))
        history.add_snapshot(0, relation_snapshot(model, val_dev, probe_idx, config))
        if recorder is not None:
            recorder.epoch(0, model, metrics)

    main = dist_utils.is_main()
    # the bar counts every epoch of the run; one continued from a stage 1 (stored or shared) or a checkpoint starts
    # part-way, and says so
    origin = " (stage 1 reused)" if stage1 is not None else " (resumed)" if resume_from is not None else ""
    bar = tqdm(range(start_epoch, until_epoch + 1), disable=not (progress and main), desc=config.method + origin,
               unit="epoch", initial=start_epoch - 1, total=until_epoch)
    last_epoch = start_epoch - 1
    for epoch in bar:
        t_epoch = time.perf_counter()
        note = (f"the checkpoint of epoch {last_epoch} in {checkpoint_dir} is kept" if checkpoint_dir
                and last_epoch >= 1 else "no checkpoint was written")
        infos, keys, table, step = _train_epoch(model, opt, train_dev, config, epoch, step, steps_per_epoch, note)
        rows, means = step_rows(infos, keys, table)
        history.add_steps(rows)
        metrics = validate(model, val_dev, config.select_metric in CATEGORY_METRICS)
        seconds = time.perf_counter() - t_epoch
        history.add_epoch(epoch_row(epoch, rows, means, model.scalars(), metrics, seconds))
        if snapshot_due(config, epoch):
            history.add_snapshot(epoch, relation_snapshot(model, val_dev, probe_idx, config))
        value = metrics[config.select_metric]
        if _is_better(config.select_metric, value, best["metric"]) or not config.select_best:
            best = {"state": {k: v.detach().clone() for k, v in model.state_dict().items()}, "epoch": epoch,
                    "metric": value, "metrics": metrics}
        if recorder is not None and epoch <= config.epochs_stage1:
            recorder.epoch(epoch, model, metrics, infos, keys, table, seconds)
            if epoch == config.epochs_stage1:
                record_stage1.append(recorder.finish(model, opt, step, best))
        last_epoch = epoch
        if checkpoint_dir is not None:
            if main:
                save_checkpoint(checkpoint_dir, config=config, model_state=model.state_dict(), best_state=best["state"],
                                optimizer_state=opt.state_dict(), rng_states=rng_states(device),
                                trainer_state={"epoch": epoch, "step": step, "best_epoch": best["epoch"],
                                               "best_metric": best["metric"], "best_metrics": best["metrics"],
                                               "dims": dims},
                                history=history)
            dist_utils.barrier()
        bar.set_postfix(loss=f"{means['loss']:.3f}", **{f"val_{config.select_metric}": f"{value:.1f}"})
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    history.meta.update(best_epoch=best["epoch"], best_metric=best["metric"], select_metric=config.select_metric)
    return TrainResult(model=model, history=history, config=config, best_epoch=best["epoch"],
                       best_metrics=best["metrics"], last_epoch=last_epoch, seconds=time.perf_counter() - t_start,
                       lambda_info=lambda_info)
