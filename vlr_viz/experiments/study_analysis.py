"""Analyses of trained runs for the rebalancing report (notebook 04): the headline rows of the table, the paired
bootstrap over test queries, what each run ended with (λ, modality gap, alignment and uniformity), the
reliability λ of the calibrated presets, and the landscape a learned λ descends. Each is one call over the runs
and splits of `vlr_viz.experiments.study`; the statistics themselves live in `vlr_viz.stats`. The costly ones are
stored (`vlr_viz.store.tables`, keyed by the content of what they read), so a warm report reads them back.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..data import load_dataset
from ..eval import recall_at_k, single_modal_retrieval
from ..features import load_features
from ..imbalance import LEVELS, PRESETS, alignment_uniformity, degrade_pairs, modality_gap
from ..imbalance.presets import FEATURE_KIND, FEATURE_PRESETS
from ..losses import lambda_objective
from ..methods import get_method
from ..models.fusion import reliability_lambda
from ..stats import paired_bootstrap, retrieval_units
from .study import Run, Splits, prepare_splits
from ..train import caption_batches
from ..store.arrays import array_cache
from ..store.runs import fingerprint
from ..store.tables import analysis_path, stored_table
from ..train.threads import torch_threads

ANALYSIS_CODE_VERSION = "1"
"""Changes whenever an analysis below computes something else for the same inputs (it keys every stored table)."""

HEADLINE_COLUMNS = {
    ("cross", "rsum", "pair"): "RSUM",
    ("i2i", "ndcg@10", "rougeL"): "i2i NDCG@10 (ROUGE-L)",
    ("t2t", "ndcg@10", "rougeL"): "t2t NDCG@10 (ROUGE-L)",
    ("i2i", "ndcg@10", "category"): "i2i NDCG@10 (category)",
    ("t2t", "ndcg@10", "category"): "t2t NDCG@10 (category)",
}
"""The metrics of the rebalancing table: ``(task, metric, relevance)`` of `vlr_viz.eval.evaluate` → column name."""


def headline_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a `compare_methods` frame that the rebalancing table shows (`HEADLINE_COLUMNS`), with a
    ``column`` name and the recipe in ``method``; ``attrs`` (the NDCG convention) are kept."""
    names = [HEADLINE_COLUMNS.get(key) for key in zip(df["task"], df["metric"], df["relevance"])]
    out = df.assign(column=names).dropna(subset=["column"]).rename(columns={"model": "method"})
    out.attrs = dict(df.attrs)
    return out.reset_index(drop=True)


def query_bootstrap(run: Run, reference: Run, splits: Splits, *, ks=(1, 5, 10), ndcg_k: int = 10,
                    empty_queries: str = "skip", n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Paired bootstrap over the test queries of one run against a reference run (`vlr_viz.stats.paired_bootstrap`):
    RSUM (an image and its captions form one unit) and i2i / t2t NDCG@``ndcg_k`` with ROUGE-L relevance, each
    recomputed for both runs on the same resampled queries. One row per metric with ``n`` (queries), the two
    values, ``mean_diff`` (run − reference), ``ci_low``, ``ci_high``, ``se`` and ``note``. Under
    ``empty_queries="skip"`` queries with nothing relevant (the same for both runs) are left out. Stored."""
    pairs = splits.pairs["test"]
    parts = [[(r.method, r.seed, np.asarray(r.img_emb), np.asarray(r.txt_emb)) for r in (run, reference)],
             pairs.txt_to_img, pairs.labels, pairs.family, splits.relevance, list(ks), ndcg_k, empty_queries,
             n_resamples, seed]
    return stored_table(analysis_path("query_bootstrap", ANALYSIS_CODE_VERSION, *parts),
                        lambda: _query_bootstrap(run, reference, splits, ks, ndcg_k, empty_queries, n_resamples,
                                                 seed))


def _query_bootstrap(run, reference, splits, ks, ndcg_k, empty_queries, n_resamples, seed) -> pd.DataFrame:
    pairs = splits.pairs["test"]
    per_query = {}
    for r in (run, reference):
        ranks = recall_at_k(r.img_emb, r.txt_emb, pairs.txt_to_img, ks, return_ranks=True)
        units = retrieval_units(ranks["i2t_ranks"], ranks["t2i_ranks"], pairs.txt_to_img, ks)
        single = single_modal_retrieval(r.img_emb, r.txt_emb, pairs, splits.relevance, ks=(ndcg_k,),
                                        empty_queries=empty_queries, per_query=True)
        per_query[r.method] = {"RSUM": units, **{
            f"{task} NDCG@{ndcg_k} (ROUGE-L)": (single[f"{task}_ndcg@{ndcg_k}[rougeL]"], None)
            for task in ("i2i", "t2t")}}
    rows = []
    for metric, (a, weights) in per_query[run.method].items():
        b = per_query[reference.method][metric][0]
        keep = ~(np.isnan(a) | np.isnan(b)) if a.ndim == 1 else np.ones(a.shape[0], bool)
        res = paired_bootstrap(a[keep], b[keep], None if weights is None else weights[keep],
                               n_resamples=n_resamples, seed=seed)
        rows.append({"metric": metric, "method": run.method, "reference": reference.method, "seed": run.seed, **res})
    return pd.DataFrame(rows)


def bootstrap_against_baseline(runs: dict, conditions: dict, seed: int, baseline: str = "baseline", *,
                               empty_queries: str = "skip", n_resamples: int = 2000, cache_dir=None,
                               dataset: str = "twemoji") -> pd.DataFrame:
    """`query_bootstrap` of every method against ``baseline`` on seed ``seed``, in every condition of a
    `compare_methods` call (``runs`` keyed ``(condition, method, seed)``, ``conditions`` as passed to it).
    Rows gain a ``condition`` column. The splits are the runs' own (`Run.splits`), else prepared from ``dataset``."""
    frames = []
    for cname, (image, text) in conditions.items():
        if (cname, baseline, seed) not in runs:
            raise ValueError(f"no run of the baseline {baseline!r} with seed {seed} in condition {cname!r}")
        splits = _splits_of(runs[(cname, baseline, seed)], dataset, image, text, cache_dir)
        for (c, method, s), run in runs.items():
            if c == cname and s == seed and method != baseline:
                frames.append(query_bootstrap(run, runs[(cname, baseline, seed)], splits, seed=seed,
                                              empty_queries=empty_queries, n_resamples=n_resamples)
                              .assign(condition=cname))
    return pd.concat(frames, ignore_index=True)


def run_summary(runs: dict, txt_to_img) -> pd.DataFrame:
    """What each trained run ended with, one row per ``(condition, method, seed)`` key of ``runs``: the selected
    epoch, λ (and how it was set), and the test-split geometry: ``modality_gap`` (Liang et al. 2022),
    ``alignment``, ``uniformity_image``, ``uniformity_text`` (Wang & Isola 2020; `vlr_viz.imbalance`). Stored."""
    heads = [{"condition": condition, "method": method, "seed": seed, "best_epoch": run.result.best_epoch,
              "lam": run.result.model.scalars()["lam"],
              "lambda_mode": (run.result.config.lambda_mode if get_method(run.result.config.method)
                              .needs_teacher_relations else "none")}
             for (condition, method, seed), run in runs.items()]
    embeddings = [(np.asarray(run.img_emb), np.asarray(run.txt_emb)) for run in runs.values()]

    def compute() -> pd.DataFrame:
        return pd.DataFrame([{**head, "modality_gap": modality_gap(img, txt),
                              **alignment_uniformity(img, txt, txt_to_img)}
                             for head, (img, txt) in zip(heads, embeddings)])

    return stored_table(analysis_path("run_summary", ANALYSIS_CODE_VERSION, heads, embeddings,
                                      np.asarray(txt_to_img)), compute)


def run_lambdas(summary: pd.DataFrame, conditions: dict) -> pd.DataFrame:
    """The λ of each run of a `run_summary` frame, placed on the preset scale of `reliability_sweep`: rows
    ``condition, method, seed, lam, degraded, level`` with ``degraded`` ``"none"`` (clean data, level
    ``"clean"``), ``"image"`` or ``"text"`` and ``level`` the preset name. ``conditions`` maps each condition to
    ``(image_spec, text_spec)`` as in `compare_methods`; conditions that are not one preset of one modality (both
    degraded, or an explicit ``(kind, severity)``) and runs without a fusion weight (``lambda_mode`` ``"none"``,
    the baseline) are left out."""
    rows = []
    if "lambda_mode" in summary.columns:  # runs without a fusion weight (the baseline) have no λ to show
        summary = summary[summary["lambda_mode"] != "none"]
    for r in summary.itertuples(index=False):
        if r.condition not in conditions:
            raise ValueError(f"condition {r.condition!r} of the summary is not in conditions {list(conditions)}")
        image, text = conditions[r.condition]
        if image is None and text is None:
            degraded, level = "none", "clean"
        elif isinstance(image, str) and text is None:
            degraded, level = "image", image
        elif isinstance(text, str) and image is None:
            degraded, level = "text", text
        else:
            continue
        rows.append({"condition": r.condition, "method": r.method, "seed": r.seed, "lam": r.lam,
                     "degraded": degraded, "level": level})
    return pd.DataFrame(rows, columns=["condition", "method", "seed", "lam", "degraded", "level"])


def lambda_landscape(run: Run, splits: Splits, lambdas=np.linspace(0.0, 1.0, 21), n_batches: int = 8,
                     batch_size: int | None = None) -> pd.DataFrame:
    """What a learned λ descends, for a trained structure-aware run: `vlr_viz.losses.lambda_objective` at each λ,
    averaged over ``n_batches`` training batches (the run's batch size and seed, epoch 1's order), split into the
    student term ``w_kd·kd`` and the teacher terms ``w_kd_v·kd_v + w_kd_t·kd_t``. Its minimum says where gradient
    descent on λ would settle: near the student's own relations and between the two teachers, whatever their
    reliability. Rows ``lam, student_term, teacher_terms, total``. Stored."""
    cfg = run.result.config
    if cfg.method != "sad":
        raise ValueError(f"lambda_landscape needs a structure-aware run (method 'sad'); {run.method!r} is "
                         f"{cfg.method!r}")
    model, train = run.result.model, splits.features["train"]
    batches = caption_batches(train.n_captions, batch_size or cfg.batch_size, cfg.seed, 1)[:n_batches]
    if not batches:
        raise ValueError("the training split is smaller than one batch")
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    path = analysis_path("lambda_landscape", ANALYSIS_CODE_VERSION, cfg.to_dict(), state, fingerprint(train),
                         np.asarray(lambdas, dtype=float), [np.asarray(b) for b in batches])
    return stored_table(path, lambda: _lambda_landscape(model, cfg, train, lambdas, batches))


def _lambda_landscape(model, cfg, train, lambdas, batches) -> pd.DataFrame:
    opts = dict(tau2=float(model.fusion.tau2), student_relation=cfg.student_relation, distance=cfg.distance,
                center_teachers=cfg.center_teachers)
    student = {"kd_loss": cfg.weights["kd_loss"]}
    teachers = {k: cfg.weights[k] for k in ("kd_v_loss", "kd_t_loss")}
    parts = np.zeros((2, len(lambdas)))
    was_training = model.training
    model.eval()
    try:
        for cap in batches:
            img = train.txt_to_img[cap]
            with torch.no_grad():
                v, t = model(train.image[img], train.text[cap])
            a, b = train.teacher_image[img], train.teacher_text[cap]
            parts[0] += lambda_objective(v, t, a, b, lambdas, weights=student, **opts).numpy()
            parts[1] += lambda_objective(v, t, a, b, lambdas, weights=teachers, **opts).numpy()
    finally:
        model.train(was_training)
    parts /= len(batches)
    return pd.DataFrame({"lam": np.asarray(lambdas, dtype=float), "student_term": parts[0],
                         "teacher_terms": parts[1], "total": parts.sum(0)})


def reliability_sweep(levels=LEVELS, references=("pairs", "labels"), dataset: str = "twemoji", cache_dir=None,
                      progress: bool = False) -> pd.DataFrame:
    """The reliability λ (`vlr_viz.models.fusion.reliability_lambda`) of the training split at the calibrated presets
    (`vlr_viz.imbalance.PRESETS`) of both directions: images degraded, captions clean, and the reverse.

    One row per ``(degraded, level, reference)``: ``degraded`` (``"image"`` or ``"text"``), ``level``
    (``"clean"`` first, then ``levels``), ``kind``, ``severity``, ``reference``, ``lam`` (weight of the text
    teacher), ``rel_v``, ``rel_t``. λ should rise above 0.5 when images are degraded (trust the text teacher) and
    fall below it when captions are. The λ of each set of features is stored.
    """
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise ValueError(f"unknown level(s) {unknown}; known: {list(LEVELS)}")
    train = load_dataset(dataset, "train", cache=array_cache())
    presets = FEATURE_PRESETS if train.images is None else None
    rows = []
    for degraded in ("image", "text"):
        for level in ("clean", *levels):
            spec = {"image": None, "text": None, degraded: None if level == "clean" else level}
            pairs = degrade_pairs(train, **spec) if spec[degraded] else train
            feats = load_features(pairs, cache_dir=cache_dir, progress=progress)
            kind, severity = (("none", 0.0) if level == "clean" else (FEATURE_KIND, presets[level]) if presets
                              else PRESETS[degraded][level])
            lams = _reliability_lambdas(feats, pairs, references)
            rows += [{"degraded": degraded, "level": level, "kind": kind, "severity": severity, **row}
                     for row in lams.to_dict("records")]
    return pd.DataFrame(rows)


def _reliability_lambdas(feats, pairs, references) -> pd.DataFrame:
    """Rows ``reference, lam, rel_v, rel_t`` of `reliability_lambda` on one set of teacher features (stored)."""
    def compute() -> pd.DataFrame:
        rows = []
        for ref in references:
            lam, info = reliability_lambda(feats.image, feats.text, pairs.txt_to_img, reference=ref,
                                           labels=pairs.labels)
            rows.append({"reference": ref, "lam": lam, "rel_v": info["rel_v"], "rel_t": info["rel_t"]})
        return pd.DataFrame(rows, columns=["reference", "lam", "rel_v", "rel_t"])

    return stored_table(analysis_path("reliability_lambda", ANALYSIS_CODE_VERSION, np.asarray(feats.image),
                                      np.asarray(feats.text), pairs.txt_to_img, pairs.labels, list(references)),
                        compute)


def _runs_per_condition(runs: dict, conditions: dict, method: str, seed: int, dataset: str, cache_dir):
    """``(condition, run, splits)`` for every condition of a `compare_methods` call: the ``method`` run with ``seed``
    and the condition's splits (`_splits_of`); ValueError naming the condition where the run is missing."""
    for cname, (image, text) in conditions.items():
        if (cname, method, seed) not in runs:
            raise ValueError(f"no run of {method!r} with seed {seed} in condition {cname!r}")
        run = runs[(cname, method, seed)]
        yield cname, run, _splits_of(run, dataset, image, text, cache_dir)


def _splits_of(run: Run, dataset: str, image, text, cache_dir) -> Splits:
    """The splits ``run`` was trained on (`Run.splits`), else those of ``dataset`` under the condition."""
    if run.splits is not None:
        return run.splits
    return prepare_splits(dataset, image=image, text=text, cache_dir=cache_dir)


def lambda_minima(runs: dict, conditions: dict, method: str = "sad-kl", seed: int = 0, cache_dir=None,
                  threads: int | None = 1, dataset: str = "twemoji", **landscape) -> pd.DataFrame:
    """Where the `lambda_landscape` of the ``method`` run with ``seed`` is lowest in each condition of a
    `compare_methods` call, next to the λ that run learned: rows ``condition, learned, argmin_total,
    argmin_student_term, argmin_teacher_terms``. ``landscape``: options of `lambda_landscape`; ``threads``: torch
    CPU threads meanwhile (`vlr_viz.train.threads.torch_threads`)."""
    rows = []
    for cname, run, splits in _runs_per_condition(runs, conditions, method, seed, dataset, cache_dir):
        with torch_threads(threads):
            land = lambda_landscape(run, splits, **landscape)
        at = lambda col: float(land["lam"].iloc[int(land[col].to_numpy().argmin())])  # noqa: E731
        rows.append({"condition": cname, "learned": run.result.model.scalars()["lam"],
                     "argmin_total": at("total"), "argmin_student_term": at("student_term"),
                     "argmin_teacher_terms": at("teacher_terms")})
    return pd.DataFrame(rows)


def ndcg_conventions(runs: dict, conditions: dict, method: str = "baseline", seed: int = 0, k: int = 10,
                     cache_dir=None, dataset: str = "twemoji") -> pd.DataFrame:
    """Single-modal NDCG@``k`` (ROUGE-L) of the ``method`` run with ``seed`` in each condition under both empty-query
    conventions of `vlr_viz.eval.ranking`: ``skip`` (vlr_viz's default) and ``zero`` (the TIP24 code's), with the
    number of queries that have no relevant item. Rows ``condition, task, skip, zero, empty_queries, queries``."""
    rows = []
    for cname, run, splits in _runs_per_condition(runs, conditions, method, seed, dataset, cache_dir):
        pairs = splits.pairs["test"]
        both = {conv: single_modal_retrieval(run.img_emb, run.txt_emb, pairs, splits.relevance, ks=(k,),
                                             empty_queries=conv) for conv in ("skip", "zero")}
        for task in ("i2i", "t2t"):
            rows.append({"condition": cname, "task": task, "skip": both["skip"][f"{task}_ndcg@{k}[rougeL]"],
                         "zero": both["zero"][f"{task}_ndcg@{k}[rougeL]"],
                         "empty_queries": both["skip"][f"{task}_ndcg_skipped[rougeL]"], "queries": pairs.n_images})
    return pd.DataFrame(rows)
