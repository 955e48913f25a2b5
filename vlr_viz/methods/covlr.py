"""`CoVLR` (``covlr``): matching at θ plus the relation loss at the inner step θ' (`vlr_viz.losses.covlr`)."""
from __future__ import annotations

from .matching import Matching, match_terms
from .registry import register
from .structure_aware import StructureAware


@register
class CoVLR(StructureAware):
    """``covlr``: stage 2 is the MLDG-style meta step (our reading of CoVLR, ICME 2024): ``L_match(θ) + γ
    L_rel(θ')`` (`vlr_viz.losses.covlr.covlr_terms`; docs/method.md, B). ``rel_loss`` is weighted by
    ``covlr_gamma``, not by ``TrainConfig.weights``. Its second forward at θ' makes a run about 2.7× as long as
    matching alone (`benchmarks/bench_train_runs.py`) and trains it alone, never batched."""

    name = "covlr"
    label = "CoVLR"
    color = "#762A83"
    default_weights = dict(Matching.default_weights)
    relative_cost = 2.7
    trains_together = False

    def describe(self, config) -> list[str]:
        return [f"alpha={config.covlr_alpha:g}, gamma={config.covlr_gamma:g} at tau2={config.tau2:g}, "
                f"relation={config.covlr_relation}, {'second' if config.covlr_second_order else 'first'}-order"]

    def stage_weights(self, config, stage: int) -> dict[str, float]:
        weights = Matching.stage_weights(self, config, stage)
        return weights if stage == 1 else {**weights, "rel_loss": config.covlr_gamma}

    def batch_terms(self, model, x_img, x_txt, a, b, img_id, config, stage: int) -> dict:
        if stage == 1:
            return super().batch_terms(model, x_img, x_txt, a, b, img_id, config, stage)
        from ..losses.covlr import covlr_terms

        return covlr_terms(model, x_img, x_txt, a, b, img_id, config,
                           lambda v, t, i: match_terms(model, v, t, i, config))

    def terms_of_embeddings(self, model, v, t, a, b, img_id, config, stage: int) -> dict:
        if stage == 2:
            raise ValueError("CoVLR's stage 2 needs the student inputs (its meta step runs the encoder twice)")
        return Matching.terms_of_embeddings(self, model, v, t, a, b, img_id, config, stage)
