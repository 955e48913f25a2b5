"""Stage 1 trained once for the runs that share it: every method starts with ``epochs_stage1`` epochs of matching only.

Runs whose configs differ only in what stage 2 reads (`STAGE2_FIELDS`: the method, its structure and CoVLR
settings, λ and τ2) train exactly the same stage 1: the same initial weights (the seed draws them in the same
order), the same batches, dropout masks, learning rates and matching loss. A `Stage1` keeps what such a run holds
at the end of stage 1, and `vlr_viz.train.trainer.fit` continues any run of the same `stage1_signature` from it
(``fit(config, ..., span=RunSpan(stage1=...))``). The fused-teacher scalars λ and τ2 are constants in stage 1
(nothing gives them a gradient), so the history of each run is rebuilt with its own: its step and epoch rows, and
its relation snapshots, recomputed from the weights kept at each snapshot epoch. A test checks every recipe continued
this way against the same run trained whole, bit for bit.

Notebook 04 compares five recipes on the same seeds and conditions: sharing stage 1 saves four of every five
stage-1 passes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import TrainConfig
from .epoch_records import epoch_row, initial_epoch_row, relation_snapshot, rng_states, snapshot_due, step_rows

STAGE2_FIELDS = ("method", "epochs_stage2", "student_relation", "distance", "center_teachers", "tau2", "learn_tau2",
                 "lambda_mode", "lambda_param", "init_lambda", "reliability_reference", "covlr_alpha", "covlr_gamma",
                 "covlr_relation", "covlr_second_order")
"""`TrainConfig` fields that stage 1 does not read (besides every loss weight but the matching one). A field not
named here keys the stage, so a new field is safe by default."""


def stage1_signature(config: TrainConfig) -> str:
    """What stage 1 of ``config`` depends on: runs with equal signatures (and features) train the same stage 1."""
    d = config.to_dict()
    for name in STAGE2_FIELDS:
        d.pop(name)
    d["weights"] = {"match_loss": d["weights"]["match_loss"]}
    return json.dumps(d, sort_keys=True)


def shares_stage1(config: TrainConfig) -> bool:
    """Whether ``config`` has both stages (a run of stage 1 only has nothing to continue)."""
    return config.epochs_stage1 >= 1 and config.epochs_stage2 >= 1


def _data_shape(train, val) -> tuple:
    return train.n_captions, val.n_captions, json.dumps(train.dims(), sort_keys=True)


def _fusion_free(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.startswith("fusion.")}


@dataclass
class Stage1:
    """A run at the end of stage 1: its weights, AdamW state (per parameter name), RNG state, step, best epoch so
    far, and per epoch the values logged, the validation metrics and (at snapshot epochs) the weights."""

    signature: str
    model_state: dict
    optimizer_state: dict
    rng_states: dict
    step: int
    best: dict
    epochs: list = field(default_factory=list)
    data: tuple = ()

    def check(self, config: TrainConfig, train, val) -> None:
        """ValueError unless ``config`` can continue from this stage 1 on ``train`` / ``val`` (the same sizes and
        dims as the features it was trained on: the caller passes the same features)."""
        if self.data and self.data != _data_shape(train, val):
            raise ValueError(f"this stage 1 was trained on other features ({self.data} against "
                             f"{_data_shape(train, val)}: captions of train and val, dims)")
        if not shares_stage1(config):
            raise ValueError(f"{config!r} has no stage 2 to continue from a stage 1")
        if stage1_signature(config) != self.signature:
            theirs = json.loads(self.signature)
            ours = json.loads(stage1_signature(config))
            diff = sorted(k for k in ours if ours[k] != theirs.get(k))
            raise ValueError(f"this stage 1 was trained with other settings: {diff} differ")

    def apply(self, model, opt, history, config: TrainConfig, val, probe) -> tuple[int, int, dict]:
        """Load this stage 1 into a freshly built ``model`` and ``opt`` of ``config`` (its own λ and τ2 kept), write
        the run's stage-1 history, and return ``(first epoch of stage 2, step, best so far)``."""
        fusion = {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith("fusion.")}
        params = dict(model.named_parameters())
        for name, state in self.optimizer_state.items():
            opt.state[params[name]] = {k: v.clone() for k, v in state.items()}
        torch.set_rng_state(self.rng_states["cpu"])
        device = next(model.parameters()).device
        if device.type == "cuda":
            torch.cuda.set_rng_state(self.rng_states["cuda"], device)
        own = model.scalars()  # λ and τ2 of this run, constant through stage 1 (τ comes from each record)
        for record in self.epochs:
            scalars = {**own, "tau": record["tau"]}
            if record["epoch"] == 0:
                history.add_epoch(initial_epoch_row(scalars, record["metrics"]))
            else:
                table = record["table"].copy()
                for name in ("lam", "tau2"):
                    table[:, record["keys"].index(name)] = own[name]
                rows, means = step_rows(record["infos"], record["keys"], table)
                history.add_steps(rows)
                history.add_epoch(epoch_row(record["epoch"], rows, means, scalars, record["metrics"],
                                            record["seconds"]))
            if record["state"] is not None:
                model.load_state_dict({**record["state"], **fusion})
                history.add_snapshot(record["epoch"], relation_snapshot(model, val, probe, config))
        model.load_state_dict({**self.model_state, **fusion})
        best = dict(self.best)
        if best["state"] is not None:
            best["state"] = {**best["state"], **fusion}
        return config.epochs_stage1 + 1, self.step, best


class Stage1Recorder:
    """Collects a `Stage1` while `vlr_viz.train.trainer.fit` trains stage 1 of ``config``."""

    def __init__(self, config: TrainConfig, train, val):
        self.config, self.epochs, self.data = config, [], _data_shape(train, val)
        self._due = lambda epoch: epoch == 0 or snapshot_due(config, epoch)

    def epoch(self, epoch: int, model, metrics: dict, infos=None, keys=None, table=None, seconds=None) -> None:
        """Record epoch ``epoch`` (0: the model before training) once it is trained and validated."""
        state = _fusion_free({k: v.detach().clone() for k, v in model.state_dict().items()}) if self._due(epoch) \
            else None
        self.epochs.append({"epoch": epoch, "tau": model.logit_scale.tau.item(), "metrics": dict(metrics),
                            "infos": infos, "keys": keys, "table": None if table is None else np.array(table),
                            "seconds": seconds, "state": state})

    def finish(self, model, opt, step: int, best: dict) -> Stage1:
        """The `Stage1` at the end of stage 1."""
        names = {p: n for n, p in model.named_parameters()}
        optimizer_state = {names[p]: {k: v.clone() if torch.is_tensor(v) else v for k, v in state.items()}
                           for p, state in opt.state.items() if state}
        best = {**best, "state": None if best["state"] is None else _fusion_free(best["state"])}
        return Stage1(stage1_signature(self.config), _fusion_free(
            {k: v.detach().clone() for k, v in model.state_dict().items()}), optimizer_state,
            rng_states(next(model.parameters()).device), step, best, self.epochs, self.data)


def stage1_groups(configs) -> list[list[int]]:
    """Indices of ``configs`` grouped by `stage1_signature`, in order of first appearance; a config without a stage
    2 (`shares_stage1`) is a group of its own."""
    groups: dict[str, list[int]] = {}
    for i, config in enumerate(configs):
        key = stage1_signature(config) if shares_stage1(config) else f"alone:{i}"
        groups.setdefault(key, []).append(i)
    return list(groups.values())
