"""`TrainConfig`: every setting of a training run, validated on construction, saved as JSON with the run."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields

from ..checks import Choice, Flag, Integer, MappingOf, Number, Text, check_values
from ..errors import ConfigError
from ..losses import DEFAULT_WEIGHTS, DISTANCES, STUDENT_RELATIONS
from ..methods import get_method, method_names, term_names
from ..models import LAMBDA_PARAMS

MATCHING = ("infonce", "vse_hinge")
LAMBDA_MODES = ("learned", "reliability", "fixed")
SCHEDULES = ("cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")

FIELD_CHECKS = {
    "method": Choice(method_names),
    "seed": Integer(min=0),
    "epochs_stage1": Integer(min=0),
    "epochs_stage2": Integer(min=0),
    "batch_size": Integer(min=2),
    "lr": Number(min=0, min_open=True),
    "weight_decay": Number(min=0),
    "warmup_frac": Number(0, 1, max_open=True),
    "schedule": Choice(SCHEDULES),
    "embed_dim": Integer(min=1),
    "hidden": Integer(min=1),
    "depth": Integer(min=1),
    "dropout": Number(0, 1, max_open=True),
    "matching": Choice(MATCHING),
    "margin": Number(min=0),
    "init_tau": Number(min=0.01),  # 1/tau is clamped at 100
    "learn_tau": Flag(),
    "weights": MappingOf(Choice(term_names, label="loss term"), Number(min=0)),
    "student_relation": Choice(STUDENT_RELATIONS),
    "distance": Choice(DISTANCES),
    "center_teachers": Flag(),
    "tau2": Number(min=0, min_open=True),
    "learn_tau2": Flag(),
    "lambda_mode": Choice(LAMBDA_MODES),
    "lambda_param": Choice(LAMBDA_PARAMS),
    "init_lambda": Number(),  # its range depends on lambda_param (below)
    "reliability_reference": Choice(("pairs", "labels")),
    "covlr_alpha": Number(min=0),
    "covlr_gamma": Number(min=0),
    "covlr_relation": Choice(STUDENT_RELATIONS),
    "covlr_second_order": Flag(),
    "select_metric": Text(non_empty=True),
    "select_best": Flag(),
    "snapshot_every": Integer(min=0),
    "n_probe": Integer(min=0),
    "device": Choice(DEVICES),
    "precision": Choice(PRECISIONS),
}
"""The type, range or choices of every `TrainConfig` field (`vlr_viz.checks`); notebooks reuse them. The methods and
the loss terms a config may weigh are those registered when it is checked (`vlr_viz.methods`)."""


@dataclass
class TrainConfig:
    """Settings of one training run.

    Methods (every method starts with ``epochs_stage1`` epochs of matching only, then ``epochs_stage2`` epochs of
    its full objective; the authors used 10 + 10):

    * ``"baseline"``: the matching loss only.
    * ``"sad"``: structure-aware distillation (Yang et al., TIP 2024): ``Σ_k weights[k]·L_k`` over match,
      rep_img, rep_txt, kd, kd_v, kd_t. With the MAE distance the structure terms scale as ``1/τ2`` (a kd weight
      of 2 at ``tau2=0.07`` equals a weight of 1 at ``tau2=0.035``), with MSE as ``1/τ2²``; with KL, τ2 is a
      softmax temperature with no such scale (docs/method.md, A5). State and sweep weight and τ2 together.
    * ``"covlr"``: CoVLR as an MLDG-style meta step (our reading; see `vlr_viz.losses.covlr`):
      ``weights["match_loss"]·L_match(θ) + covlr_gamma·L_rel(θ')`` with inner step size ``covlr_alpha``; like
      the structure weight, ``covlr_gamma`` acts at the scale of the distance (``1/tau2`` for MAE). The sources
      give no γ; the default 0.1 (at ``tau2=0.07``) was chosen on the Twemoji validation split (docs/method.md, B3).
    * any method registered in `vlr_viz.methods` (a plug-in, docs/extending.md): its terms' default weights join
      ``weights``.

    Optimiser: AdamW (``weight_decay`` on weight matrices only). Learning rate per stage, as if each stage were
    its own run: linear warm-up over the first ``warmup_frac`` of the stage's steps, then cosine decay to 0
    (``schedule="cosine"``) or the constant peak rate (``"constant"``).
    The epoch with the best ``select_metric`` on the validation split is kept (``select_best``).

    Precision: ``"fp32"`` (default) computes everything in float32. ``"bf16"`` runs each step's forward pass and
    losses under ``torch.autocast`` with bfloat16 (open_clip's ``--precision amp_bf16``): matrix products in
    bfloat16, while softmax, norms, reductions, the weights, gradients, AdamW state and all validation stay float32.
    It pays where the hardware multiplies bfloat16 natively (recent GPUs; x86 CPUs with AMX or AVX-512 BF16).
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
    precision: str = "fp32"

    def __post_init__(self) -> None:
        checked = check_values(FIELD_CHECKS, {f.name: getattr(self, f.name) for f in fields(self)})
        for name, value in checked.items():
            setattr(self, name, value)
        if self.epochs_stage1 + self.epochs_stage2 < 1:
            raise ConfigError("epochs_stage1 + epochs_stage2 must be at least 1")
        self.weights = {**DEFAULT_WEIGHTS, **get_method(self.method).default_weights, **self.weights}
        if self.lambda_param == "raw" and not 0.0 <= self.init_lambda <= 1.0:
            raise ConfigError(f"init_lambda must lie in [0, 1] at the start (lambda_param='raw'), "
                              f"got {self.init_lambda}")
        if self.lambda_param != "raw" and not 0.0 < self.init_lambda < 1.0:
            raise ConfigError(f"init_lambda must lie in (0, 1) for lambda_param={self.lambda_param!r}, "
                              f"got {self.init_lambda}")

    @property
    def epochs(self) -> int:
        return self.epochs_stage1 + self.epochs_stage2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> "TrainConfig":
        """The config of a saved dict; ``where`` (a file name) prefixes every message."""
        prefix = f"{where}: " if where else ""
        if not isinstance(d, dict):
            raise ConfigError(f"{prefix}a TrainConfig must be a mapping of field names to values; "
                              f"got {type(d).__name__}")
        unknown = sorted(set(d) - {f.name for f in fields(cls)}, key=str)
        if unknown:
            raise ConfigError(f"{prefix}unknown TrainConfig field(s): {unknown}; known: {sorted(FIELD_CHECKS)}")
        try:
            return cls(**d)
        except ConfigError as e:
            raise ConfigError(f"{prefix}{e}") from None

    def __repr__(self) -> str:
        parts = [f"method={self.method!r}", f"epochs={self.epochs_stage1}+{self.epochs_stage2}",
                 f"batch_size={self.batch_size}", f"lr={self.lr:g}", f"seed={self.seed}"]
        method = get_method(self.method)
        parts += method.describe(self)
        if method.needs_teacher_relations:
            parts.append(f"lambda={self.lambda_mode}/{self.lambda_param}")
        return f"TrainConfig({', '.join(parts)})"
