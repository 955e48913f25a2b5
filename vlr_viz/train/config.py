"""`TrainConfig`: every setting of a training run, validated on construction, saved as JSON with the run."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields

from ..losses import DEFAULT_WEIGHTS, DISTANCES, STUDENT_RELATIONS
from ..models.fusion import LAMBDA_PARAMS

METHODS = ("baseline", "sad", "covlr")
MATCHING = ("infonce", "vse_hinge")
LAMBDA_MODES = ("learned", "reliability", "fixed")
SCHEDULES = ("cosine", "constant")
TERMS = tuple(DEFAULT_WEIGHTS)


@dataclass
class TrainConfig:
    """Settings of one training run.

    Methods (every method starts with ``epochs_stage1`` epochs of matching only, then ``epochs_stage2`` epochs of
    its full objective; the authors used 10 + 10):

    * ``"baseline"``: the matching loss only.
    * ``"sad"``: structure-aware distillation (Yang et al., TIP 2024): ``Σ_k weights[k]·L_k`` over match,
      rep_img, rep_txt, kd, kd_v, kd_t. The structure terms scale as ``1/τ2``: a kd weight of 2 at
      ``tau2=0.07`` equals a weight of 1 at ``tau2=0.035``; state and sweep them together.
    * ``"covlr"``: CoVLR as an MLDG-style meta step (our reading; see `vlr_viz.train.covlr`):
      ``weights["match_loss"]·L_match(θ) + covlr_gamma·L_rel(θ')`` with inner step size ``covlr_alpha``; like
      the structure weight, ``covlr_gamma`` acts at the scale ``1/tau2``. The sources give no γ; the default
      0.1 (at ``tau2=0.07``) was chosen on the Twemoji validation split (γ = 1 never beat the end of stage 1).

    Optimiser: AdamW (``weight_decay`` on weight matrices only). Learning rate per stage, as if each stage were
    its own run: linear warm-up over the first ``warmup_frac`` of the stage's steps, then cosine decay to 0
    (``schedule="cosine"``) or the constant peak rate (``"constant"``).
    The epoch with the best ``select_metric`` on the validation split is kept (``select_best``).
    """

    method: str = "sad"
    seed: int = 0
    # schedule
    epochs_stage1: int = 10
    epochs_stage2: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_frac: float = 0.1
    schedule: str = "cosine"
    # student towers (MLP heads on frozen backbone features)
    embed_dim: int = 256
    hidden: int = 1024
    depth: int = 2
    dropout: float = 0.1
    # matching
    matching: str = "infonce"
    margin: float = 0.2
    init_tau: float = 0.07
    learn_tau: bool = True
    # structure-aware distillation
    weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    student_relation: str = "all"
    distance: str = "mae"
    center_teachers: bool = False
    tau2: float = 0.07
    learn_tau2: bool = False
    lambda_mode: str = "learned"
    lambda_param: str = "sigmoid"
    init_lambda: float = 0.5
    reliability_reference: str = "pairs"
    # CoVLR
    covlr_alpha: float = 0.1
    covlr_gamma: float = 0.1
    covlr_relation: str = "intra"
    covlr_second_order: bool = False
    # selection, logging
    select_metric: str = "rsum"
    select_best: bool = True
    snapshot_every: int = 5
    n_probe: int = 48
    device: str = "auto"

    def __post_init__(self) -> None:
        def choice(name, options):
            if getattr(self, name) not in options:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; choose one of {list(options)}")

        choice("method", METHODS)
        choice("matching", MATCHING)
        choice("schedule", SCHEDULES)
        choice("student_relation", STUDENT_RELATIONS)
        choice("covlr_relation", STUDENT_RELATIONS)
        choice("distance", DISTANCES)
        choice("lambda_mode", LAMBDA_MODES)
        choice("lambda_param", LAMBDA_PARAMS)
        choice("reliability_reference", ("pairs", "labels"))
        choice("device", ("auto", "cpu", "cuda"))
        for name in ("epochs_stage1", "epochs_stage2", "snapshot_every", "n_probe", "seed"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {getattr(self, name)!r}")
        if self.epochs_stage1 + self.epochs_stage2 < 1:
            raise ValueError("epochs_stage1 + epochs_stage2 must be at least 1")
        if not isinstance(self.batch_size, int) or self.batch_size < 2:
            raise ValueError(f"batch_size must be an integer >= 2, got {self.batch_size!r}")
        for name in ("embed_dim", "hidden", "depth"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("lr", "init_tau", "tau2"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        for name in ("weight_decay", "margin", "covlr_alpha", "covlr_gamma"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if not 0.0 <= self.warmup_frac < 1.0:
            raise ValueError(f"warmup_frac must lie in [0, 1), got {self.warmup_frac}")
        self.weights = {**DEFAULT_WEIGHTS, **dict(self.weights)}
        unknown = sorted(set(self.weights) - set(TERMS))
        if unknown:
            raise ValueError(f"unknown loss term(s) in weights: {unknown}; known: {list(TERMS)}")
        negative = sorted(k for k, w in self.weights.items() if not (math.isfinite(w) and w >= 0))
        if negative:
            raise ValueError(f"loss weights must be non-negative numbers; check {negative}")
        self.weights = {k: float(w) for k, w in self.weights.items()}
        if self.lambda_param == "raw" and not 0.0 <= self.init_lambda <= 1.0:
            raise ValueError(f"init_lambda must lie in [0, 1] at the start (lambda_param='raw'), got {self.init_lambda}")
        if self.lambda_param != "raw" and not 0.0 < self.init_lambda < 1.0:
            raise ValueError(f"init_lambda must lie in (0, 1) for lambda_param={self.lambda_param!r}, "
                             f"got {self.init_lambda}")
        if not 1.0 / self.init_tau <= 100.0:
            raise ValueError(f"init_tau must be >= 0.01 (1/tau is clamped at 100), got {self.init_tau}")

    @property
    def epochs(self) -> int:
        return self.epochs_stage1 + self.epochs_stage2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s): {unknown}")
        return cls(**d)

    def __repr__(self) -> str:
        parts = [f"method={self.method!r}", f"epochs={self.epochs_stage1}+{self.epochs_stage2}",
                 f"batch_size={self.batch_size}", f"lr={self.lr:g}", f"seed={self.seed}"]
        if self.method == "sad":
            w = self.weights
            parts.append(f"weights=(match {w['match_loss']:g}, rep_img {w['rep_img_loss']:g}, "
                         f"rep_txt {w['rep_txt_loss']:g}, kd {w['kd_loss']:g}, kd_v {w['kd_v_loss']:g}, "
                         f"kd_t {w['kd_t_loss']:g}) at tau2={self.tau2:g}")
            parts.append(f"relation={self.student_relation}/{self.distance}")
        if self.method == "covlr":
            parts.append(f"alpha={self.covlr_alpha:g}, gamma={self.covlr_gamma:g} at tau2={self.tau2:g}, "
                         f"relation={self.covlr_relation}, {'second' if self.covlr_second_order else 'first'}-order")
        if self.method != "baseline":
            parts.append(f"lambda={self.lambda_mode}/{self.lambda_param}")
        return f"TrainConfig({', '.join(parts)})"
