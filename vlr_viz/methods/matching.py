"""`Matching` (``baseline``): the matching loss alone, and the base class of every method.

A method is one object (`vlr_viz.methods.registry`) that says everything the rest of vlr_viz asks of it: the
trainer its stage weights, batch terms and initial λ; `TrainConfig` its loss terms' default weights and how it
describes itself; the worker pool its relative cost; the figures its label and colour. Torch is imported inside the
functions that train, so checking a config imports none.
"""
from __future__ import annotations

from typing import ClassVar

from .registry import register


@register
class Matching:
    """``baseline``: the matching loss (multi-positive InfoNCE with learnable τ, or the VSE++ hinge) in both stages
    (docs/method.md, A1). Every method starts with ``epochs_stage1`` epochs of this stage 1."""

    name: ClassVar[str] = "baseline"
    """The method's name: `TrainConfig.method`, a recipe of its own, a key of the run store's summaries."""
    label: ClassVar[str] = "matching only"
    """What figures and tables call it besides its name."""
    color: ClassVar[str | None] = "#D6604D"
    """Its fixed colour in figures (`vlr_viz.viz.colors.series_color`); ``None``: one derived from its name."""
    default_weights: ClassVar[dict[str, float]] = {"match_loss": 1.0}
    """Its loss terms weighted by `TrainConfig.weights`, with their default weights (a term name registered here may
    be given a weight in any config)."""
    needs_teacher_relations: ClassVar[bool] = False
    """Whether its objective reads the fused teacher relations (so λ and τ2 matter and are shown)."""
    relative_cost: ClassVar[float] = 1.0
    """Its run time relative to a matching-only run: the worker pool starts the longest runs first."""
    trains_together: ClassVar[bool] = True
    """Whether runs of this method can train batched with others of the same shape (`vlr_viz.runner.multi_seed`)."""
    source: str | None = None
    """Content hash of the code of a method registered from outside vlr_viz (set by `register`; keys its runs)."""

    def describe(self, config) -> list[str]:
        """What `TrainConfig.__repr__` shows of this method's settings: by default the weights of its own terms."""
        own = [t for t in self.default_weights if t != "match_loss"]
        return [f"weights=({', '.join(f'{t} {config.weights[t]:g}' for t in own)})"] if own else []

    def stage_weights(self, config, stage: int) -> dict[str, float]:
        """The weight of every term of the stage (a term without weight is not part of it)."""
        return {"match_loss": config.weights["match_loss"]}

    def batch_terms(self, model, x_img, x_txt, a, b, img_id, config, stage: int) -> dict:
        """Raw terms of a batch from the student inputs ``x_img``, ``x_txt`` and the frozen teachers' features
        ``a`` (image), ``b`` (text) of this rank's pairs (the terms span the global batch)."""
        v, t = model(x_img, x_txt)
        return self.terms_of_embeddings(model, v, t, a, b, img_id, config, stage)

    def terms_of_embeddings(self, model, v, t, a, b, img_id, config, stage: int) -> dict:
        """The terms from this rank's student embeddings ``v``, ``t`` (gathered over processes here)."""
        from ..distributed import gather_batch

        v, t, img_id = gather_batch(v, t, img_id)
        return match_terms(model, v, t, img_id, config)

    def initial_lambda(self, config, train) -> tuple[float, dict]:
        """``(λ0, what to record about it)``; λ is unused by matching alone."""
        return config.init_lambda, {"lambda_mode": config.lambda_mode, "lambda_param": config.lambda_param,
                                    "lambda_init": config.init_lambda}


def match_terms(model, v, t, img_id, config) -> dict:
    """``{"match_loss": ...}`` of the config's matching loss (``infonce`` with the model's 1/τ, or ``vse_hinge``)."""
    from ..losses import matching_loss, vse_hinge_loss

    if config.matching == "vse_hinge":
        return vse_hinge_loss(v, t, img_id, margin=config.margin)
    return matching_loss(v, t, img_id, logit_scale=model.logit_scale())
