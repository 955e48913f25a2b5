"""What a run records as it trains (`vlr_viz.train.history.History`): the step and epoch rows, the relation snapshots
and the epochs they are due at, and the RNG state a continued run starts from. `vlr_viz.train.trainer.fit` writes
them while training; a run continued from a shared stage 1 (`vlr_viz.train.stage1`) rebuilds its stage-1 rows from
them, so that both give the same history."""
from __future__ import annotations

import numpy as np
import torch

from ..losses import student_relations, teacher_relations
from .config import TrainConfig
from .data import PairFeatures
from .model import RetrievalModel


@torch.no_grad()
def relation_snapshot(model: RetrievalModel, data: PairFeatures, probe: np.ndarray, config: TrainConfig) -> dict:
    """Student and teacher relations (over the current τ2, λ) on the probe captions and their images; with centred
    teachers also the uncentred ``R_v_raw`` and ``R_t_raw``."""
    was_training = model.training
    model.eval()
    cap = torch.as_tensor(probe, device=data.text.device)
    img = data.txt_to_img[cap]
    v, t = model(data.image[img], data.text[cap])
    tau2, lam = model.fusion.tau2, model.fusion.lam
    out = student_relations(v, t, tau2)
    a, b = data.teacher_image[img], data.teacher_text[cap]
    out["R_v"], out["R_t"], out["E"] = teacher_relations(a, b, lam, tau2, config.center_teachers)
    if config.center_teachers:  # the teachers' own geometry too: drift figures compare every run against it
        out["R_v_raw"], out["R_t_raw"], _ = teacher_relations(a, b, lam, tau2, False)
    model.train(was_training)
    return {k: x.float().cpu().numpy() for k, x in out.items()}


def snapshot_due(config: TrainConfig, epoch: int) -> bool:
    """Snapshots at every ``snapshot_every``-th epoch (0: none of those), the end of stage 1 and the last epoch."""
    periodic = config.snapshot_every > 0 and epoch % config.snapshot_every == 0
    return periodic or epoch in (config.epochs_stage1, config.epochs)


def rng_states(device: torch.device) -> dict[str, torch.Tensor]:
    """The torch RNG states a run continues from (CPU, and the CUDA device's when it trains there)."""
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def step_rows(infos: list[dict], keys: list[str], table: np.ndarray) -> tuple[list[dict], dict]:
    """The history's step rows of an epoch and the epoch means of their values."""
    rows = [{**info, **dict(zip(keys, vals.tolist()))} for info, vals in zip(infos, table)]
    return rows, dict(zip(keys, table.mean(0).tolist()))


def initial_epoch_row(scalars: dict, metrics: dict) -> dict:
    """The history's row of epoch 0 (the model before training): λ, τ, τ2 and the validation metrics."""
    return {"epoch": 0, "stage": 0, **scalars, **{f"val_{k}": v for k, v in metrics.items()}}


def epoch_row(epoch: int, rows: list[dict], means: dict, scalars: dict, metrics: dict, seconds: float) -> dict:
    """The history's row of a trained epoch: its stage and last learning rate, the means of its step values, the
    scalars λ, τ, τ2 at its end, its validation metrics (``val_<name>``) and its wall time."""
    return {"epoch": epoch, "stage": rows[-1]["stage"], "lr": rows[-1]["lr"], **means, **scalars,
            **{f"val_{k}": v for k, v in metrics.items()}, "seconds": seconds}
