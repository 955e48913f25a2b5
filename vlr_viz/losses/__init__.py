"""Losses of vlr_viz: each returns a dict of named terms; `weighted_sum` combines the terms a method uses (which
terms, with which weights in which stage: `vlr_viz.methods`).

=====================================  =============================================  ==========================
function                               terms                                          docs/method.md
=====================================  =============================================  ==========================
`matching_loss` (InfoNCE, multi-pos.)  ``match_loss``                                 A1
`vse_hinge_loss` (VSE++ hardest neg.)  ``match_loss``                                 A1
`representation_loss`                  ``rep_img_loss``, ``rep_txt_loss``             A2
`structure_loss`                       ``kd_loss``, ``kd_v_loss``, ``kd_t_loss``      A3-A5
`covlr_terms` (the CoVLR meta step)    ``match_loss``, ``rel_loss``                   B2
=====================================  =============================================  ==========================

`vlr_viz.losses.npc` holds DCMQ's distillation target and loss (C3), `vlr_viz.losses.dcmq` its objective.

The names of terms, distances and relations are defined here, without torch, for the configs that check them
(`vlr_viz.train.config`, `vlr_viz.train.dcmq.config`); the loss functions are imported on first use
(`lazy_loader`).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping

import lazy_loader

if TYPE_CHECKING:
    import torch

#: The authors' weights (TIP 2024) for the terms vlr_viz has (their ITM term, weight 2, has no counterpart here).
DEFAULT_WEIGHTS = {"match_loss": 1.0, "rep_img_loss": 1.0, "rep_txt_loss": 2.0,
                   "kd_loss": 2.0, "kd_v_loss": 1.0, "kd_t_loss": 1.0}
#: Distances d of the structure terms (docs/method.md, A3).
DISTANCES = ("mae", "mse", "kl")
#: Student relations S of the structure term (docs/method.md, A3).
STUDENT_RELATIONS = ("pair", "intra", "inter", "all")
#: The terms of DCMQ's objective (`vlr_viz.losses.dcmq.dcmq_loss`; docs/codes.md).
DCMQ_TERMS = ("distill_loss", "pair_loss", "balance_loss")

__getattr__, __dir__, _lazy_all = lazy_loader.attach(__name__, submod_attrs={
    "covlr": ["covlr_terms"],
    "matching": ["matching_loss"],
    "representation": ["representation_loss"],
    "structure": ["lambda_objective", "off_diagonal", "relation_distance", "structure_loss", "student_relations",
                  "teacher_relations"],
    "targets": ["positive_targets", "soft_cross_entropy"],
    "vse_hinge": ["vse_hinge_loss"],
})


def weighted_sum(terms: Mapping[str, torch.Tensor],
                 weights: Mapping[str, float]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``(Σ_k w_k·L_k, {k: w_k·L_k})`` over the terms present; every term needs a weight (a zero is allowed).

    Weights of absent terms are ignored, so one weight table serves both stages of a schedule.
    """
    missing = [k for k in terms if k not in weights]
    if missing:
        raise ValueError(f"no weight given for loss term(s) {missing}")
    bad = [k for k, w in weights.items() if not (math.isfinite(w) and w >= 0)]
    if bad:
        raise ValueError(f"loss weights must be finite and >= 0; check {bad}")
    weighted = {k: weights[k] * v for k, v in terms.items()}
    if not weighted:
        raise ValueError("weighted_sum needs at least one term")
    return sum(weighted.values()), weighted


__all__ = ["DCMQ_TERMS", "DEFAULT_WEIGHTS", "DISTANCES", "STUDENT_RELATIONS", *_lazy_all, "weighted_sum"]
