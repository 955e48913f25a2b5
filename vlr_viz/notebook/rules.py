"""What each notebook parameter may hold: the value check of every parameter name, and the rules between names.

A parameter name means one thing in every notebook (``epochs_stage1`` is always the `TrainConfig` field,
``structure_recipe`` always a recipe name), so checks are keyed by name. Training settings reuse the checks of
`vlr_viz.train.config.FIELD_CHECKS`, degradations are checked by the very resolver that applies them, code
lengths by `DCMQConfig` itself: a value that the report accepts is one that the notebook's code accepts. Recipe
names include every registered method, those of the ``plugins`` parameter too (loaded before the other checks).
`vlr_viz.notebook.parameters.check_notebook_parameters` applies all of this.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

from ..checks import Check, Choice, Flag, Integer, ListOf, MappingOf, Number, Rule, Text
from ..errors import ConfigError


def _degradation(modality: str) -> Rule:
    """``''`` (clean) or what `resolve_degradation` accepts, checked by it."""
    from ..imbalance.presets import PRESETS, resolve_degradation

    return Rule(lambda value: resolve_degradation(value or None, modality),
                f"'' (clean) or one of the {modality} presets {', '.join(PRESETS[modality])}")


def _condition(value) -> None:
    """``[image, text]``: each ``''`` (clean), a preset name or ``[kind, severity]`` (`resolve_degradation`)."""
    from ..imbalance.presets import resolve_degradation

    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError("expected [image, text]")
    for spec, modality in zip(value, ("image", "text")):
        resolve_degradation(spec or None, modality)


def _dataset(spec) -> None:
    """A dataset that opens: `vlr_viz.data.load_splits` parses the spec, reads its annotation files, checks their
    headers, ids and image paths, and scans precomputed feature arrays for NaN / inf, so that a bad dataset is
    refused before any notebook starts (images are decoded later, by the notebook; the result is cached, so the
    report, the explorer and each notebook's check cell open it once per process)."""
    from ..data import load_splits
    from ..store.arrays import array_cache

    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("expected a dataset spec string")
    load_splits(spec, cache=array_cache())


def _code_length(bits) -> None:
    from ..train.dcmq import DCMQConfig

    DCMQConfig(bits=bits)  # the code shape and the embedding width must agree


@lru_cache(maxsize=1)
def parameter_checks() -> dict[str, Check]:
    """``{parameter name: check}`` for every parameter of the notebooks in ``notebooks/``."""
    from ..imbalance import IMAGE_KINDS, TEXT_KINDS
    from ..eval.ranking import EMPTY_QUERIES
    from ..imbalance.presets import FEATURE_KIND, LEVELS
    from ..train.config import FIELD_CHECKS
    from ..train.dcmq import DCMQ_FIELD_CHECKS
    from ..train.recipes import recipe_names
    from ..viz.geometry import PROJECTION_METHODS

    recipe = Choice(recipe_names, label="recipe")
    severity = Number(0, 1)
    image_kind = Choice((*IMAGE_KINDS, FEATURE_KIND), label="image degradation kind")
    text_kind = Choice((*TEXT_KINDS, FEATURE_KIND), label="text degradation kind")
    weight = Number(min=0)
    dataset = Rule(_dataset, "a dataset spec: twemoji, FOLDER, karpathy:JSON:IMAGE_ROOT, coco:CAPTIONS_JSON:IMAGE_DIR, "
                             "csv:FILE, wds:SHARD_PATTERN, features:DIR, fashion-mnist[:DIR], "
                             "openclipart[:PNG_ROOT:SVG_ROOT]")
    return {
        "plugins": ListOf(Text(non_empty=True), unique=True),
        "dataset": dataset,
        "compare_datasets": ListOf(dataset, min_len=1, unique=True),
        "seed": FIELD_CHECKS["seed"],
        "seeds": ListOf(FIELD_CHECKS["seed"], min_len=1, unique=True),
        "epochs_stage1": FIELD_CHECKS["epochs_stage1"],
        "epochs_stage2": FIELD_CHECKS["epochs_stage2"],
        "teacher_epochs_stage1": FIELD_CHECKS["epochs_stage1"],
        "teacher_epochs_stage2": FIELD_CHECKS["epochs_stage2"],
        "snapshot_every": FIELD_CHECKS["snapshot_every"],
        "hidden": FIELD_CHECKS["hidden"],
        "structure_recipe": recipe,
        "teacher_recipe": recipe,
        "recipes": ListOf(recipe, min_len=1, unique=True),
        "image_degradation": _degradation("image"),
        "text_degradation": _degradation("text"),
        "levels": MappingOf(Text(non_empty=True), Rule(_condition, "[image, text] degradations, each '' (clean), "
                                                                   "a preset name or [kind, severity]"), min_len=1),
        "image_kind": image_kind,
        "text_kind": text_kind,
        "severities": ListOf(severity, min_len=1, unique=True),
        "image_levels": MappingOf(image_kind, ListOf(severity, min_len=1, unique=True)),
        "text_levels": MappingOf(text_kind, ListOf(severity, min_len=1, unique=True)),
        "initial_text_kind": text_kind,
        "initial_text_severity": severity,
        "sweep_text_severities": ListOf(severity, min_len=1, unique=True),
        "structure_weights": ListOf(weight, min_len=1, unique=True),
        "sweep_structure_weights": ListOf(weight, min_len=1, unique=True),
        "projection": Choice(PROJECTION_METHODS),
        "show_links": Flag(),
        "bits_list": ListOf(Rule(_code_length, "a code length in bits that DCMQConfig accepts"), min_len=1,
                            unique=True),
        "dcmq_epochs": DCMQ_FIELD_CHECKS["epochs"],
        "torch_threads": Integer(min=1),
        "gap_shifts": ListOf(Number(-10, 10), min_len=1, unique=True),
        "empty_queries": Choice(EMPTY_QUERIES),
        "lambda_levels": ListOf(Choice(LEVELS, label="preset level"), min_len=1, unique=True),
        "bootstrap_resamples": Integer(min=100),
    }


def _at_least_one_epoch(stage1: int, stage2: int) -> str | None:
    return None if stage1 + stage2 >= 1 else "must add up to at least 1 epoch"


def _on_the_text_grid(severity: float, kind: str, levels: dict) -> str | None:
    if severity == 0 or severity in levels.get(kind, []):
        return None
    return f"{severity!r} is not on the text_levels grid of {kind!r} ({levels.get(kind, [])}) and not 0"


def _each_on_the_text_grid(severities: list, kind: str, levels: dict) -> str | None:
    off = [s for s in severities if _on_the_text_grid(s, kind, levels)]
    return None if not off else f"{off} are not on the text_levels grid of {kind!r} ({levels.get(kind, [])}) nor 0"


CROSS_RULES: list[tuple[tuple[str, ...], Callable[..., str | None]]] = [
    (("epochs_stage1", "epochs_stage2"), _at_least_one_epoch),
    (("teacher_epochs_stage1", "teacher_epochs_stage2"), _at_least_one_epoch),
    (("recipes",), lambda m: None if "baseline" in m else "must include 'baseline' (every recipe is compared to it)"),
    (("severities",), lambda s: None if 0 in s else "must include 0 (the clean reference)"),
    (("initial_text_kind", "text_levels"),
     lambda kind, levels: None if kind in levels else f"{kind!r} is not a key of text_levels ({sorted(levels)})"),
    (("initial_text_severity", "initial_text_kind", "text_levels"), _on_the_text_grid),
    (("sweep_text_severities", "initial_text_kind", "text_levels"), _each_on_the_text_grid),
]
"""Rules between parameters, applied when a notebook declares every name of the rule: ``rule(*values)`` returns
``None`` or what is wrong."""


def check_cross_rules(values: dict[str, Any], where: str) -> None:
    """`ConfigError` for the first rule of `CROSS_RULES` that ``values`` break, naming its parameters."""
    for names, rule in CROSS_RULES:
        if all(n in values for n in names):
            problem = rule(*(values[n] for n in names))
            if problem:
                shown = ", ".join(f"{n}={values[n]!r}" for n in names)
                raise ConfigError(f"{where}: {' + '.join(names) if rule is _at_least_one_epoch else names[0]} "
                                  f"{problem} ({shown})")
