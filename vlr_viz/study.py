"""Experiments as one call each: degrade → encode (cached) → train → evaluate. The notebooks stand on these.

Degradations apply to every split (the weak modality is weak in training and at test time); relevance for
single-modal and mixed retrieval always comes from the *clean* test captions, so a degraded caption is judged by
what its image really shows.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import load_twemoji
from .data.pairs import PairSet
from .eval import caption_image_relevance, evaluate
from .features import load_features
from .imbalance import degrade_pairs
from .train import PairFeatures, encode, fit, recipe_config
from .train.threads import torch_threads

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Splits:
    """Pairs and features of train/val/test under one degradation, plus the clean test relevance."""

    pairs: dict[str, PairSet]
    features: dict[str, PairFeatures]
    relevance: np.ndarray
    condition: str


def condition_name(image=None, text=None) -> str:
    def one(spec):
        if spec is None:
            return "clean"
        return spec if isinstance(spec, str) else f"{spec[0]}@{float(spec[1]):.2f}"

    return f"img:{one(image)}|txt:{one(text)}"


def prepare_splits(dataset: str = "twemoji", image=None, text=None, seed: int = 0, cache_dir=None,
                   progress: bool = False) -> Splits:
    """Load the splits, degrade them (``image`` / ``text``: None, a preset name or ``(kind, severity)``), encode."""
    if dataset != "twemoji":
        raise ValueError(f"unknown dataset {dataset!r}; notebooks support 'twemoji'")
    clean = {s: load_twemoji(s) for s in SPLIT_NAMES}
    pairs = {s: (degrade_pairs(p, image=image, text=text, seed=seed) if image or text else p)
             for s, p in clean.items()}
    feats = {}
    for s, p in pairs.items():
        f = load_features(p, cache_dir=cache_dir, progress=progress)
        feats[s] = PairFeatures.from_features(f, p, name=s)
    rel = caption_image_relevance(clean["test"], cache_dir=cache_dir)
    return Splits(pairs, feats, rel, condition_name(image, text))


@dataclass
class Run:
    """A trained student and its test-split embeddings (``method``: the recipe name)."""

    method: str
    seed: int
    result: object
    img_emb: np.ndarray
    txt_emb: np.ndarray
    seconds: float


def train_run(splits: Splits, method: str = "sad", seed: int = 0, progress: bool = False,
              threads: int | None = None, **config) -> Run:
    """Train recipe ``method`` (`vlr_viz.train.RECIPES`: baseline, sad, sad-kl, covlr) on ``splits`` with
    `TrainConfig` overrides ``config``, the epoch chosen on validation, and embed the test split. ``threads``:
    torch CPU threads while training (`vlr_viz.train.threads.torch_threads`; ``None`` leaves torch's setting; 1 is
    fastest for the MLP towers and avoids a many-fold slow-down on a busy machine)."""
    t0 = time.perf_counter()
    cfg = recipe_config(method, seed=seed, **config)
    with torch_threads(threads):
        result = fit(cfg, splits.features["train"], splits.features["val"], progress=progress)
    test = splits.features["test"]
    img, txt = encode(result.model, test.image, test.text)
    return Run(method, seed, result, img, txt, time.perf_counter() - t0)


def evaluate_run(run: Run, splits: Splits, with_teachers: bool = False, empty_queries: str = "skip") -> pd.DataFrame:
    """Every metric of `vlr_viz.eval.evaluate` for the run on the test split (clean relevance; ``empty_queries``:
    the NDCG convention for queries with nothing relevant, ``"skip"`` or the TIP24 code's ``"zero"``)."""
    test = splits.features["test"]
    teachers = ({"image": test.teacher_image.numpy(), "text": test.teacher_text.numpy()}
                if with_teachers else None)
    df = evaluate(run.img_emb, run.txt_emb, splits.pairs["test"], teachers=teachers, relevance=splits.relevance,
                  model=run.method, empty_queries=empty_queries)
    return df.assign(seed=run.seed, condition=splits.condition)


def compare_methods(methods, conditions: dict, seeds=(0,), cache_dir=None, progress: bool = False,
                    method_config: dict | None = None, empty_queries: str = "skip", threads: int | None = None,
                    **config) -> tuple[pd.DataFrame, dict]:
    """Train every recipe × condition × seed; return (tidy metrics frame, runs keyed by (condition, method, seed)).

    ``methods``: recipe names (`vlr_viz.train.RECIPES`). ``conditions`` maps a display name to
    ``(image_spec, text_spec)``. ``method_config`` holds per-recipe `TrainConfig` overrides. ``empty_queries``:
    see `evaluate_run`; the frame's ``attrs["empty_queries"]`` records it. ``threads``: see `train_run`.
    """
    frames, runs = [], {}
    for cname, (image, text) in conditions.items():
        splits = prepare_splits(image=image, text=text, cache_dir=cache_dir, progress=progress)
        for method in methods:
            for seed in seeds:
                kw = dict(config, **(method_config or {}).get(method, {}))
                run = train_run(splits, method, seed, threads=threads, **kw)
                runs[(cname, method, seed)] = run
                frames.append(evaluate_run(run, splits, empty_queries=empty_queries).assign(
                    condition=cname, train_seconds=run.seconds))
    df = pd.concat(frames, ignore_index=True)
    df.attrs["empty_queries"] = empty_queries
    return df, runs
