"""`DCMQConfig`: every setting of one DCMQ run (docs/codes.md explains each choice and how it was made)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

from ...checks import Choice, Flag, Integer, Number, Optional, Rule, check_values
from ...errors import ConfigError
from ...eval.cutoffs import check_cutoffs
from ...losses import DCMQ_TERMS as TERMS
from ...models.code_shape import pq_shape_for_bits

SUPERVISIONS = ("teacher", "labels")
SELECT_METRICS = ("rsum+map", "rsum", "map")
#: Settings that several runs trained in one pass must share (everything but ``seed`` and ``supervision``).
SHARED = ("bits", "num_codewords", "epochs", "batch_size", "lr", "weight_decay", "npc_temperature",
          "target_temperature", "student_temperature", "distill_weight", "pair_weight", "balance_weight", "tau_start",
          "tau_end", "gumbel_noise", "kmeans_iters", "select_metric", "eval_ks", "device", "num_threads")

_POSITIVE = Number(min=0, min_open=True)
DCMQ_FIELD_CHECKS = {
    "bits": Integer(min=1), "num_codewords": Integer(min=2), "supervision": Choice(SUPERVISIONS),
    "epochs": Integer(min=1), "batch_size": Integer(min=2), "lr": _POSITIVE, "weight_decay": Number(min=0),
    "seed": Integer(min=0), "npc_temperature": _POSITIVE, "target_temperature": _POSITIVE,
    "student_temperature": _POSITIVE, "distill_weight": Number(min=0), "pair_weight": Number(min=0),
    "balance_weight": Number(min=0), "tau_start": _POSITIVE, "tau_end": _POSITIVE, "gumbel_noise": Flag(),
    "kmeans_iters": Integer(min=1), "select_metric": Choice(SELECT_METRICS),
    "eval_ks": Rule(check_cutoffs, "distinct positive integer cut-offs"), "device": Choice(("auto", "cpu", "cuda")),
    "num_threads": Optional(Integer(min=1)),
}
"""The type, range or choices of every `DCMQConfig` field (`vlr_viz.checks`)."""


@dataclass
class DCMQConfig:
    """Hyper-parameters of :func:`vlr_viz.train.dcmq.fit_dcmq`.

    Attributes:
        bits: code length ``M · log2 K``.
        num_codewords: ``K`` per sub-codebook (256: one byte per sub-codebook, the FAISS ``IndexPQ`` layout).
        supervision: ``"teacher"`` (NPC target of the teacher's embeddings) or ``"labels"`` (label-similarity
            baseline: the same student and loss with the category target).
        epochs, batch_size, lr, weight_decay, seed: optimisation (Adam; one caption and its image per row).
        npc_temperature: ``T`` of the NPC target ``tanh(z / T)``.
        target_temperature, student_temperature: ``τ_T`` and ``τ_S`` of the listwise distillation and the pair term.
        distill_weight, pair_weight, balance_weight: weights of ``distill_loss``, ``pair_loss`` and
            ``balance_loss`` (:func:`vlr_viz.losses.dcmq.dcmq_loss`).
        tau_start, tau_end: Gumbel-softmax temperature, decayed exponentially over all steps.
        gumbel_noise: draw Gumbel noise in training (PQG); off by default: nearest-codeword assignment with the
            straight-through gradient of the softmax (the noise lowered the validation score, docs/codes.md).
        kmeans_iters: Lloyd iterations of the codebook initialisation.
        select_metric: validation score that picks the epoch: ``"rsum+map"`` (cross-modal RSUM with codes plus the
            category mAP), ``"rsum"`` or ``"map"``; epoch 0 (the initialisation) competes too.
        eval_ks: mAP cut-offs recorded next to mAP over the whole gallery.
        device: torch device.
        num_threads: torch CPU threads while fitting (``None``: torch's setting; every kernel of the loop is
            reproducible run to run at any thread count).
    """

    bits: int = 64
    num_codewords: int = 256
    supervision: str = "teacher"
    epochs: int = 10
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.0
    seed: int = 0
    npc_temperature: float = 1.0
    target_temperature: float = 0.05
    student_temperature: float = 0.1
    distill_weight: float = 2.0
    pair_weight: float = 1.0
    balance_weight: float = 0.1
    tau_start: float = 1.0
    tau_end: float = 0.2
    gumbel_noise: bool = False
    kmeans_iters: int = 25
    select_metric: str = "rsum+map"
    eval_ks: tuple[int, ...] = (50,)
    device: str = "cpu"
    num_threads: int | None = None

    def __post_init__(self):
        checked = check_values(DCMQ_FIELD_CHECKS, {f.name: getattr(self, f.name) for f in fields(self)},
                               where="DCMQConfig")
        for name, value in checked.items():
            setattr(self, name, value)
        try:
            pq_shape_for_bits(self.bits, self.num_codewords)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self.eval_ks = tuple(int(k) for k in self.eval_ks)

    @property
    def loss_weights(self) -> dict[str, float]:
        return {t: getattr(self, f"{t.split('_')[0]}_weight") for t in TERMS}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_shared(configs: list[DCMQConfig]) -> None:
    """Raise ValueError unless every config agrees with the first on the :data:`SHARED` settings."""
    if not configs:
        raise ValueError("configs is empty: nothing to train")
    first = configs[0]
    for i, c in enumerate(configs[1:], 1):
        diff = [k for k in SHARED if getattr(c, k) != getattr(first, k)]
        if diff:
            raise ValueError(f"configs[{i}] differs from configs[0] in {diff}: runs trained in one pass may differ "
                             "only in seed and supervision")
