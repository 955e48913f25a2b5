"""Experiments as one call each: degrade → encode (cached) → train → evaluate. The notebooks stand on these.

Degradations apply to every split (the weak modality is weak in training and at test time); relevance for
single-modal and mixed retrieval always comes from the *clean* test captions, so a degraded caption is judged by
what its image really shows.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data import DatasetOptions, load_splits
from ..data.pairs import PairSet
from ..eval import caption_image_relevance
from ..features import load_features
from ..imbalance import degrade_pairs
from ..train import PairFeatures, encode, fit, recipe_config
from ..runner.stored_fit import fit_batched_stored, fit_stored
from ..store.arrays import array_cache
from ..store.evaluations import stored_evaluate
from ..store.runs import RunStore
from ..train.threads import torch_threads


@dataclass
class Splits:
    """Pairs and features of train/val/test under one degradation, the clean test pairs (their images show what an
    item really is), and the clean test relevance (``None`` when the dataset has no caption texts)."""

    pairs: dict[str, PairSet]
    features: dict[str, PairFeatures]
    relevance: np.ndarray | None
    condition: str
    clean_test: PairSet | None = None


def condition_name(image=None, text=None) -> str:
    def one(spec):
        if spec is None:
            return "clean"
        return spec if isinstance(spec, str) else f"{spec[0]}@{float(spec[1]):.2f}"

    return f"img:{one(image)}|txt:{one(text)}"


def prepare_splits(dataset: str = "twemoji", image=None, text=None, seed: int = 0, cache_dir=None,
                   progress: bool = False, options: DatasetOptions | dict | None = None,
                   workers: int | None = None) -> Splits:
    """Load the splits of a dataset spec (`vlr_viz.data.load_splits`), degrade them (``image`` / ``text``: None, a
    preset name or ``(kind, severity)``) and encode them with the teachers (cached; a dataset of precomputed
    features brings its own). ``options``: `DatasetOptions` or a dict of them; ``workers``: decoding processes."""
    if isinstance(options, dict):
        options = DatasetOptions(**options)
    clean = load_splits(dataset, options, cache=array_cache())
    pairs = {s: (degrade_pairs(p, image=image, text=text, seed=seed) if image or text else p)
             for s, p in clean.items()}
    feats = {}
    for s, p in pairs.items():
        f = load_features(p, cache_dir=cache_dir, progress=progress, workers=workers)
        feats[s] = PairFeatures.from_features(f, p, name=s)
    test = clean["test"]
    rel = None if test.captions is None else caption_image_relevance(
        test, cache=None if cache_dir is None else array_cache(cache_dir))
    return Splits(pairs, feats, rel, condition_name(image, text), clean_test=test)


@dataclass
class Run:
    """A trained student and its test-split embeddings (``method``: the recipe name); ``splits``: the `Splits` it
    was trained and embedded on (the analyses of `vlr_viz.experiments.study_analysis` read them from here)."""

    method: str
    seed: int
    result: object
    img_emb: np.ndarray
    txt_emb: np.ndarray
    seconds: float
    from_store: bool = False
    splits: Splits | None = field(default=None, repr=False, compare=False)


def train_run(splits: Splits, method: str = "sad", seed: int = 0, progress: bool = False, *,
              store: RunStore | bool = True, force: bool = False, threads: int | None = None, **config) -> Run:
    """Train recipe ``method`` (`vlr_viz.train.RECIPES`: baseline, sad, sad-kl, covlr) on ``splits`` with
    `TrainConfig` overrides ``config``, the epoch chosen on validation, and embed the test split.

    Runs go through the run store (`vlr_viz.store.runs`): a run trained before with the same config and features
    is read back, not trained again (``store=False`` always trains, ``force=True`` retrains and replaces it).
    ``Run.seconds`` is the training time of the stored run; ``Run.from_store`` says whether it was read back.
    ``threads``: torch CPU threads while training (`vlr_viz.train.threads.torch_threads`; ``None`` leaves torch's
    setting; 1 is fastest for the MLP towers and avoids a many-fold slow-down on a busy machine).
    """
    cfg = recipe_config(method, seed=seed, **config)
    feats = splits.features
    if store is False:
        t0 = time.perf_counter()
        with torch_threads(threads):
            result = fit(cfg, feats["train"], feats["val"], progress=progress)
        img, txt = encode(result.model, feats["test"].image, feats["test"].text)
        return Run(method, seed, result, img, txt, time.perf_counter() - t0, splits=splits)
    with torch_threads(threads):
        result, (img, txt), hit = fit_stored(cfg, feats["train"], feats["val"], feats["test"],
                                             store=None if store is True else store, force=force,
                                             progress=progress, summary={"recipe": method,
                                                                         "condition": splits.condition})
    return Run(method, seed, result, img, txt, result.seconds, from_store=hit, splits=splits)


def train_runs(splits: Splits, methods="sad", seeds=(0,), progress: bool = False, *, force: bool = False,
               method_config: dict | None = None, threads: int | None = None, workers: int | None = None,
               **config) -> list[Run]:
    """`train_run` for every recipe of ``methods`` (a name or a list) × seed: the runs the run store lacks train
    at once, in ``workers`` processes on a CPU (default one per core; `vlr_viz.runner.parallel`) or as one batched
    model on a GPU (`vlr_viz.runner.multi_seed`), each with the numbers of its own run. ``method_config``:
    per-recipe `TrainConfig` overrides on top of ``config``. Runs come back recipe by recipe, seed by seed.
    ``threads``: see `train_run` (in worker processes: per worker)."""
    methods = [methods] if isinstance(methods, str) else list(methods)
    plan = [(m, int(s)) for m in methods for s in seeds]
    configs = [recipe_config(m, seed=s, **{**config, **(method_config or {}).get(m, {})}) for m, s in plan]
    feats = splits.features
    with torch_threads(threads):
        done = fit_batched_stored(configs, feats["train"], feats["val"], feats["test"], force=force,
                                  progress=progress, workers=workers,
                                  summaries=[{"recipe": m, "condition": splits.condition} for m, _ in plan])
    return [Run(m, s, result, img, txt, result.seconds, from_store=hit, splits=splits)
            for (m, s), (result, (img, txt), hit) in zip(plan, done)]


def evaluate_run(run: Run, splits: Splits, with_teachers: bool = False, empty_queries: str = "skip") -> pd.DataFrame:
    """Every metric of `vlr_viz.eval.evaluate` for the run on the test split (clean relevance; ``empty_queries``:
    the NDCG convention for queries with nothing relevant, ``"skip"`` or the TIP24 code's ``"zero"``), read back
    when the same embeddings were evaluated the same way before (`vlr_viz.store.evaluations`)."""
    test = splits.features["test"]
    teachers = ({"image": test.teacher_image.numpy(), "text": test.teacher_text.numpy()}
                if with_teachers else None)
    df = stored_evaluate(run.img_emb, run.txt_emb, splits.pairs["test"], teachers=teachers,
                         relevance=splits.relevance, model=run.method, empty_queries=empty_queries)
    return df.assign(seed=run.seed, condition=splits.condition)


def compare_methods(methods, conditions: dict, seeds=(0,), cache_dir=None, progress: bool = False,
                    method_config: dict | None = None, dataset: str = "twemoji", empty_queries: str = "skip",
                    threads: int | None = None, workers: int | None = None,
                    **config) -> tuple[pd.DataFrame, dict]:
    """Train every recipe × condition × seed; return (tidy metrics frame, runs keyed by (condition, method, seed)).

    ``methods``: recipe names (`vlr_viz.train.RECIPES`). ``conditions`` maps a display name to
    ``(image_spec, text_spec)``. ``method_config`` holds per-recipe `TrainConfig` overrides. ``empty_queries``:
    see `evaluate_run`; the frame's ``attrs["empty_queries"]`` records it. ``threads``, ``workers``: see
    `train_runs`.
    """
    frames, runs = [], {}
    for cname, (image, text) in conditions.items():
        splits = prepare_splits(dataset, image=image, text=text, cache_dir=cache_dir, progress=progress)
        for run in train_runs(splits, methods, seeds, progress, method_config=method_config, threads=threads,
                              workers=workers, **config):
            runs[(cname, run.method, run.seed)] = run
            frames.append(evaluate_run(run, splits, empty_queries=empty_queries).assign(
                condition=cname, train_seconds=run.seconds))
    df = pd.concat(frames, ignore_index=True)
    df.attrs["empty_queries"] = empty_queries
    return df, runs


def severity_sweep(dataset: str = "twemoji", image_kind: str = "occlusion", text_kind: str = "word_replace",
                   severities=(0.0, 0.25, 0.5, 0.75, 0.95), seed: int = 0, split: str = "test", cache_dir=None,
                   progress: bool = False) -> pd.DataFrame:
    """How much each degradation weakens its own modality: for every severity, the ``split`` degraded on one side
    (``image_kind`` on the images, then ``text_kind`` on the captions), re-encoded by the teachers (cached), and
    each teacher's category-relevance single-modal NDCG@10 (`vlr_viz.imbalance.pair_strengths`).

    One row per ``(degraded, severity)``: ``degraded`` (``"image"`` / ``"text"``), ``kind``, ``severity``,
    ``model`` (``"teacher"``), ``image_ndcg10``, ``text_ndcg10``, ``value`` (the imbalance index
    ``(S_img - S_txt) / (S_img + S_txt)``, positive when the text side is weaker) and ``weaker``.
    """
    from ..imbalance import imbalance_summary, pair_strengths

    pairs = load_splits(dataset, cache=array_cache())[split]
    rows = []
    for modality, kind in (("image", image_kind), ("text", text_kind)):
        for s in severities:
            spec = (kind, s) if s > 0 else None
            degraded = degrade_pairs(pairs, image=spec if modality == "image" else None,
                                     text=spec if modality == "text" else None, seed=seed)
            f = load_features(degraded, cache_dir=cache_dir, progress=progress)
            strength = pair_strengths(degraded, f.image, f.text)
            summary = imbalance_summary(strength["image"]["ndcg@10"], strength["text"]["ndcg@10"])
            rows.append({"degraded": modality, "kind": kind, "severity": float(s), "model": "teacher",
                         "image_ndcg10": strength["image"]["ndcg@10"], "text_ndcg10": strength["text"]["ndcg@10"],
                         "value": summary["index"], "weaker": summary["weaker"]})
    return pd.DataFrame(rows)


def sweep_strengths(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of `severity_sweep` as `vlr_viz.viz.modality_strength_bars` reads them: ``model`` (``kind@severity``),
    ``modality``, ``metric`` (``ndcg@10``), ``value``."""
    label = table["kind"] + "@" + table["severity"].map("{:.2f}".format)
    return pd.concat([pd.DataFrame({"model": label, "modality": modality, "metric": "ndcg@10",
                                    "value": table[f"{modality}_ndcg10"]}) for modality in ("image", "text")],
                     ignore_index=True)
