"""Paired bootstrap over test queries: a confidence interval for the difference of two models on one run.

Efron & Tibshirani (1993); for IR evaluation Sakai (SIGIR 2006) and for NLP Koehn (EMNLP 2004). The queries
(units) are resampled with replacement; on every resample the metric is recomputed for **both** models on the
**same** queries and the difference kept. The interval comes from `scipy.stats.bootstrap` (BCa by default,
percentile or basic on request), which draws the resamples and the jackknife as one vectorised index array, so
1,000 queries × 2,000 resamples take well under a second.

A unit may carry several columns: the statistic is the sum over columns of each column's (weighted) mean over
the resampled units, ``Σ_c Σ_i w_ic x_ic / Σ_i w_ic``. With `retrieval_units` that sum is RSUM (six recalls) on
the resample; a single column of per-query NDCG gives mean NDCG.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from vlr_viz.arrays import numeric_matrix

METHODS = ("BCa", "percentile", "basic")


def _columns(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    return numeric_matrix(x, name)


def paired_bootstrap(a, b, weights=None, *, n_resamples: int = 2000, confidence: float = 0.95,
                     method: str = "BCa", seed: int = 0) -> dict:
    """Bootstrap confidence interval of ``statistic(a) − statistic(b)`` over resampled units (queries).

    Args:
        a, b: per-unit values of the two models, ``(n,)`` or ``(n, c)``, row ``i`` the same query for both.
        weights: optional non-negative ``(n,)`` or ``(n, c)`` weights (default 1): the statistic is
            ``Σ_c Σ_i w_ic x_ic / Σ_i w_ic`` on each resample (a mean per column, summed over columns).
        n_resamples: bootstrap resamples (at least 100).
        confidence: two-sided confidence level of the interval.
        method: ``"BCa"`` (bias-corrected and accelerated, default), ``"percentile"`` or ``"basic"``.
        seed: seed of the resampling.

    Returns:
        ``{"n", "value_a", "value_b", "mean_diff" (statistic(a) − statistic(b) on all units), "ci_low",
        "ci_high", "se" (bootstrap standard error), "n_resamples", "method", "confidence", "note"}``. When
        the two models agree on every unit the interval is the single point 0 and ``note`` says so.

    Raises ``ValueError`` for unequal shapes, fewer than 2 units, non-finite values or a column whose weights sum
    to 0.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 100:
        raise ValueError(f"n_resamples must be an integer >= 100; got {n_resamples!r}")
    xa, xb = _columns(a, "a"), _columns(b, "b")
    if xa.shape != xb.shape:
        raise ValueError(f"a has shape {xa.shape} and b has shape {xb.shape}: the same queries must be scored for "
                         "both models")
    n = xa.shape[0]
    if n < 2:
        raise ValueError(f"a paired bootstrap needs at least 2 units; got {n}")
    w = np.ones_like(xa) if weights is None else np.broadcast_to(_columns(weights, "weights"), xa.shape).copy()
    if (w < 0).any():
        raise ValueError("weights must be non-negative")
    if (w.sum(axis=0) == 0).any():
        raise ValueError(f"weights of column {int(np.flatnonzero(w.sum(axis=0) == 0)[0])} sum to 0")
    wa, wb = xa * w, xb * w

    def difference(idx, axis=-1):
        idx = np.moveaxis(idx, axis, -1)  # (..., k) unit indices of each resample (or jackknife sample)
        denom = w[idx].sum(-2)
        return (wa[idx].sum(-2) / denom).sum(-1) - (wb[idx].sum(-2) / denom).sum(-1)

    units = np.arange(n)
    observed = float(difference(units))
    out = {"n": n, "value_a": float((wa.sum(0) / w.sum(0)).sum()), "value_b": float((wb.sum(0) / w.sum(0)).sum()),
           "mean_diff": observed, "n_resamples": int(n_resamples), "interval": method,
           "confidence": float(confidence), "note": ""}
    if np.array_equal(xa, xb):
        return {**out, "ci_low": 0.0, "ci_high": 0.0, "se": 0.0,
                "note": "the two models score every unit identically"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=stats.DegenerateDataWarning)
        res = stats.bootstrap((units,), difference, n_resamples=int(n_resamples), vectorized=True,
                              confidence_level=float(confidence), method=method, rng=np.random.default_rng(seed),
                              batch=max(1, 2_000_000 // (n * xa.shape[1])))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        out["note"] = "the bootstrap distribution is degenerate: no interval"
    return {**out, "ci_low": low, "ci_high": high, "se": float(res.standard_error)}


def retrieval_units(i2t_ranks, t2i_ranks, txt_to_img, ks=(1, 5, 10)) -> tuple[np.ndarray, np.ndarray]:
    """Per-image bootstrap units whose `paired_bootstrap` statistic is RSUM (``Σ_k R@k`` of i2t and t2i).

    An image with its captions is one unit (the captions of one image are not independent queries). Columns: for
    each ``k`` the i2t hit ``100·[rank_i2t ≤ k]`` (weight 1), then for each ``k`` the mean over the image's
    captions of ``100·[rank_t2i ≤ k]`` (weight = its number of captions), so that the weighted column mean is
    the caption-level recall of `vlr_viz.eval.recall_at_k`.

    Returns ``(values, weights)``, each ``(N, 2·len(ks))``.
    """
    i2t = np.asarray(i2t_ranks)
    t2i = np.asarray(t2i_ranks)
    t2i_img = np.asarray(txt_to_img, dtype=np.int64)
    if i2t.ndim != 1 or t2i.ndim != 1 or t2i_img.shape != t2i.shape:
        raise ValueError(f"i2t_ranks (N,), t2i_ranks (M,) and txt_to_img (M,) expected; got {i2t.shape}, "
                         f"{t2i.shape}, {t2i_img.shape}")
    n = i2t.size
    if t2i_img.size and (t2i_img.min() < 0 or t2i_img.max() >= n):
        raise ValueError(f"txt_to_img has entries outside [0, {n})")
    counts = np.bincount(t2i_img, minlength=n).astype(np.float64)
    if (counts == 0).any():
        raise ValueError(f"image {int(np.flatnonzero(counts == 0)[0])} has no caption")
    ks = tuple(int(k) for k in ks)
    cols = [100.0 * (i2t <= k) for k in ks]
    cols += [np.bincount(t2i_img, weights=100.0 * (t2i <= k), minlength=n) / counts for k in ks]
    weights = np.hstack([np.ones((n, len(ks))), np.repeat(counts[:, None], len(ks), axis=1)])
    return np.stack(cols, axis=1), weights
