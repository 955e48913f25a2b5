"""Named training recipes: a method together with the settings it runs with.

* ``"baseline"``: matching loss only.
* ``"sad"``: structure-aware distillation exactly as published (Yang et al., TIP 2024): MAE between relations,
  the authors' weights (match 1, rep_img 1, rep_txt 2, kd 2, kd_v 1, kd_t 1) at ``tau2 = 0.07``.
* ``"sad-kl"``: structure-aware distillation with the row-softmax KL distance, teachers centred over the batch
  (docs/method.md, F1: pooled CNN features share a large common offset that flattens plain cosines), ``tau2 = 0.1``,
  kd weight 0.2 and no representation terms. Chosen on the Twemoji **validation** split (the comparison is in the
  README's recipe table and docs/method.md, A7).
* ``"sad-kl-reliability"``: ``"sad-kl"`` with λ fixed before training from each teacher's reliability on the
  training split (``lambda_mode="reliability"``, ``reliability_reference="labels"``: the chance-corrected category
  purity of each teacher's neighbourhoods, `vlr_viz.models.fusion.reliability_lambda`) instead of a λ learned
  through the structure loss, which stays at its initial 0.5 (docs/statistics.md, "The fusion weight λ").
* ``"covlr"``: CoVLR's meta step with ``covlr_gamma = 0.1`` (see `TrainConfig`).
* any other registered method (`vlr_viz.methods`, a plug-in included) is a recipe of its own: its defaults.

>>> config = recipe_config("sad-kl", seed=1, epochs_stage2=5)
"""
from __future__ import annotations

from ..errors import ConfigError
from ..methods import method_names
from .config import TrainConfig

RECIPES: dict[str, dict] = {
    "baseline": {"method": "baseline"},
    "sad": {"method": "sad"},
    "sad-kl": {"method": "sad", "distance": "kl", "center_teachers": True, "tau2": 0.1,
               "weights": {"kd_loss": 0.2, "rep_img_loss": 0.0, "rep_txt_loss": 0.0}},
    "sad-kl-reliability": {"method": "sad", "distance": "kl", "center_teachers": True, "tau2": 0.1,
                           "weights": {"kd_loss": 0.2, "rep_img_loss": 0.0, "rep_txt_loss": 0.0},
                           "lambda_mode": "reliability", "reliability_reference": "labels"},
    "covlr": {"method": "covlr"},
}


def recipe_names() -> tuple[str, ...]:
    """The named recipes, then every registered method that is not one (a recipe of its own)."""
    return tuple(dict.fromkeys((*RECIPES, *method_names())))


def recipe_settings(name: str) -> dict:
    """The settings of recipe ``name`` (``{"method": name}`` for a registered method that is no named recipe)."""
    if name in RECIPES:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in RECIPES[name].items()}
    if isinstance(name, str) and name in method_names():
        return {"method": name}
    raise ConfigError(f"unknown recipe {name!r}; choose one of {', '.join(map(repr, recipe_names()))}")


def recipe_config(name: str, **overrides) -> TrainConfig:
    """The `TrainConfig` of recipe ``name`` with ``overrides`` on top (``weights`` merge term by term)."""
    base = recipe_settings(name)
    weights = {**base.pop("weights", {}), **dict(overrides.pop("weights", {}) or {})}
    return TrainConfig(**{**base, **overrides, **({"weights": weights} if weights else {})})
