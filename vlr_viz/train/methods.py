"""The training methods, one object each: its loss terms, the weights of each stage and its initial λ.

The trainer asks the method of a config (`get_method`) and dispatches on nothing (a registry in the spirit of
torchdistill's). Every method trains in two stages: stage 1 matching only, stage 2 its full objective.

===========  =========================================================================================
``baseline``  `Matching`: the matching loss only (docs/method.md, A1)
``sad``       `StructureAware`: matching + representation + structure-aware distillation (A2-A6)
``covlr``     `CoVLR`: matching at θ plus the relation loss at the inner step θ' (B; `vlr_viz.losses.covlr`)
===========  =========================================================================================
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch

from .. import distributed as dist_utils
from ..losses import matching_loss, representation_loss, structure_loss, vse_hinge_loss
from ..losses.covlr import covlr_terms

if TYPE_CHECKING:
    from .config import TrainConfig
    from .data import PairFeatures
    from .model import RetrievalModel


class Matching:
    """``baseline``: the matching loss (multi-positive InfoNCE with learnable τ, or the VSE++ hinge) in both stages."""

    name: ClassVar[str] = "baseline"
    trains_together: ClassVar[bool] = True
    """Whether runs of this method can train batched with others of the same shape (`vlr_viz.train.multi_seed`)."""

    def stage_weights(self, config: TrainConfig, stage: int) -> dict[str, float]:
        """The weight of every term of the stage (a term without weight is not part of it)."""
        return {"match_loss": config.weights["match_loss"]}

    def batch_terms(self, model: RetrievalModel, x_img, x_txt, a, b, img_id, config: TrainConfig,
                    stage: int) -> dict[str, torch.Tensor]:
        """Raw terms of a batch from the student inputs ``x_img``, ``x_txt`` and teacher features ``a``, ``b`` of this
        rank's pairs (the terms span the global batch)."""
        v, t = model(x_img, x_txt)
        return self.terms_of_embeddings(model, v, t, a, b, img_id, config, stage)

    def terms_of_embeddings(self, model: RetrievalModel, v, t, a, b, img_id, config: TrainConfig,
                            stage: int) -> dict[str, torch.Tensor]:
        """The terms from this rank's student embeddings ``v``, ``t`` (gathered over processes here)."""
        v, t, img_id = dist_utils.gather_batch(v, t, img_id)
        return match_terms(model, v, t, img_id, config)

    def initial_lambda(self, config: TrainConfig, train: PairFeatures) -> tuple[float, dict]:
        """``(λ0, what to record about it)``; λ is unused by matching alone."""
        return config.init_lambda, {"lambda_mode": config.lambda_mode, "lambda_param": config.lambda_param,
                                    "lambda_init": config.init_lambda}


class StructureAware(Matching):
    """``sad``: stage 2 adds representation-level and structure-level distillation from the two teachers (Yang et
    al., TIP 2024). Terms with weight zero are not computed (no forward, no backward)."""

    name: ClassVar[str] = "sad"

    def stage_weights(self, config: TrainConfig, stage: int) -> dict[str, float]:
        return super().stage_weights(config, stage) if stage == 1 else dict(config.weights)

    def terms_of_embeddings(self, model: RetrievalModel, v, t, a, b, img_id, config: TrainConfig,
                            stage: int) -> dict[str, torch.Tensor]:
        if stage == 1:
            return super().terms_of_embeddings(model, v, t, a, b, img_id, config, stage)
        w = config.weights
        v, t, a, b, img_id = dist_utils.gather_batch(v, t, a, b, img_id)
        terms = match_terms(model, v, t, img_id, config)
        if w["rep_img_loss"] or w["rep_txt_loss"]:
            terms |= representation_loss(v, t, a, b, img_id, proj_v=model.proj_image_teacher,
                                         proj_t=model.proj_text_teacher, logit_scale=model.logit_scale())
        if w["kd_loss"] or w["kd_v_loss"] or w["kd_t_loss"]:
            terms |= structure_loss(v, t, a, b, lam=model.fusion.lam, tau2=model.fusion.tau2,
                                    student_relation=config.student_relation, distance=config.distance,
                                    center_teachers=config.center_teachers)
        return terms

    def initial_lambda(self, config: TrainConfig, train: PairFeatures) -> tuple[float, dict]:
        """λ0 = ``config.init_lambda``, or with ``lambda_mode="reliability"`` the teachers' measured reliability on
        the training pairs (`vlr_viz.models.fusion.reliability_lambda`; docs/method.md, A4)."""
        if config.lambda_mode != "reliability":
            return super().initial_lambda(config, train)
        from ..models.fusion import reliability_lambda

        lam, rel = reliability_lambda(train.teacher_image.cpu().numpy(), train.teacher_text.cpu().numpy(),
                                      train.txt_to_img.cpu().numpy(), reference=config.reliability_reference,
                                      labels=train.labels, seed=config.seed)
        if config.lambda_param != "raw":
            lam = min(max(lam, 1e-3), 1 - 1e-3)
        return lam, {"lambda_mode": config.lambda_mode, "lambda_param": config.lambda_param, "lambda_init": lam,
                     "reliability": rel}


class CoVLR(StructureAware):
    """``covlr``: stage 2 is the MLDG-style meta step (our reading of CoVLR, ICME 2024): ``L_match(θ) + γ
    L_rel(θ')`` (`vlr_viz.losses.covlr.covlr_terms`). Its second forward at θ' trains it alone, never batched."""

    name: ClassVar[str] = "covlr"
    trains_together: ClassVar[bool] = False

    def stage_weights(self, config: TrainConfig, stage: int) -> dict[str, float]:
        weights = Matching.stage_weights(self, config, stage)
        return weights if stage == 1 else {**weights, "rel_loss": config.covlr_gamma}

    def batch_terms(self, model: RetrievalModel, x_img, x_txt, a, b, img_id, config: TrainConfig,
                    stage: int) -> dict[str, torch.Tensor]:
        if stage == 1:
            return super().batch_terms(model, x_img, x_txt, a, b, img_id, config, stage)
        return covlr_terms(model, x_img, x_txt, a, b, img_id, config,
                           lambda v, t, i: match_terms(model, v, t, i, config))

    def terms_of_embeddings(self, model: RetrievalModel, v, t, a, b, img_id, config: TrainConfig,
                            stage: int) -> dict[str, torch.Tensor]:
        if stage == 2:
            raise ValueError("CoVLR's stage 2 needs the student inputs (its meta step runs the encoder twice)")
        return Matching.terms_of_embeddings(self, model, v, t, a, b, img_id, config, stage)


def match_terms(model: RetrievalModel, v, t, img_id, config: TrainConfig) -> dict[str, torch.Tensor]:
    """``{"match_loss": ...}`` of the config's matching loss (``infonce`` with the model's 1/τ, or ``vse_hinge``)."""
    if config.matching == "vse_hinge":
        return vse_hinge_loss(v, t, img_id, margin=config.margin)
    return matching_loss(v, t, img_id, logit_scale=model.logit_scale())


METHODS: dict[str, Matching] = {m.name: m for m in (Matching(), StructureAware(), CoVLR())}


def get_method(name: str) -> Matching:
    """The method called ``name`` (a `TrainConfig.method`)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {list(METHODS)}")
    return METHODS[name]
