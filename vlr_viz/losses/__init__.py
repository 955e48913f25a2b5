"""Losses of vlr_viz: each returns a dict of named terms; `weighted_sum` combines the terms a method uses (which
terms, with which weights in which stage: `vlr_viz.train.methods`).

=====================================  =============================================  ==========================
function                               terms                                          docs/method.md
=====================================  =============================================  ==========================
`matching_loss` (InfoNCE, multi-pos.)  ``match_loss``                                 A1
`vse_hinge_loss` (VSE++ hardest neg.)  ``match_loss``                                 A1
`representation_loss`                  ``rep_img_loss``, ``rep_txt_loss``             A2
`structure_loss`                       ``kd_loss``, ``kd_v_loss``, ``kd_t_loss``      A3-A5
`covlr_terms` (the CoVLR meta step)    ``match_loss``, ``rel_loss``                   B2
=====================================  =============================================  ==========================

`vlr_viz.losses.npc` holds DCMQ's distillation target and loss (C3).
"""
from __future__ import annotations

import math
from typing import Mapping

import torch

from .matching import matching_loss
from .representation import representation_loss
from .covlr import covlr_terms
from .structure import (DISTANCES, STUDENT_RELATIONS, lambda_objective, off_diagonal, relation_distance,
                        structure_loss, student_relations, teacher_relations)
from .targets import positive_targets, soft_cross_entropy
from .vse_hinge import vse_hinge_loss

#: The authors' weights (TIP 2024) for the terms vlr_viz has (their ITM term, weight 2, has no counterpart here).
DEFAULT_WEIGHTS = {"match_loss": 1.0, "rep_img_loss": 1.0, "rep_txt_loss": 2.0,
                   "kd_loss": 2.0, "kd_v_loss": 1.0, "kd_t_loss": 1.0}


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


__all__ = ["DEFAULT_WEIGHTS", "DISTANCES", "STUDENT_RELATIONS", "covlr_terms", "matching_loss",
           "lambda_objective", "off_diagonal", "positive_targets", "relation_distance", "representation_loss",
           "soft_cross_entropy", "structure_loss", "student_relations", "teacher_relations", "vse_hinge_loss",
           "weighted_sum"]
