"""Paired comparison of two methods across seeds: mean difference, t-interval, paired t and Wilcoxon tests.

Runs of two methods that share a seed share their initial weights and batch order, so the per-seed differences
``d_s = a_s - b_s`` are the unit of analysis (Dror et al., ACL 2018, "The Hitchhiker's Guide to Testing
Statistical Significance in NLP"). Everything distributional comes from `scipy.stats`:

* the confidence interval of ``mean(d)`` is the Student t-interval ``mean ± t_{n-1, (1+c)/2} · sd(d) / √n``
  (`scipy.stats.ttest_rel(...).confidence_interval`);
* ``p_ttest``: the paired t-test (`scipy.stats.ttest_rel`), two-sided; it assumes roughly normal differences;
* ``p_wilcoxon``: the Wilcoxon signed-rank test (`scipy.stats.wilcoxon`, exact for small n), two-sided; it drops
  the normality assumption but with n seeds its smallest possible p-value is ``2 / 2ⁿ`` (0.0625 for 5 seeds), so
  it cannot reach 0.05 below 6 seeds.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats


def paired_values(a, b, name_a: str = "a", name_b: str = "b") -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` as float64 vectors after checking they pair up: 1-D, same length, at least 2, all finite.

    Raises ``ValueError`` naming the argument and the position of the first bad value.
    """
    out = []
    for x, name in ((a, name_a), (b, name_b)):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"{name} must be a 1-D sequence of per-seed values; got shape {x.shape}")
        bad = np.flatnonzero(~np.isfinite(x))
        if bad.size:
            raise ValueError(f"{name}[{int(bad[0])}] is {x[bad[0]]}: every value must be finite (a NaN metric "
                             "has no place in a paired test)")
        out.append(x)
    a, b = out
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has {a.size} values and {name_b} has {b.size}: paired values need one per seed "
                         "on both sides, in the same seed order")
    if a.size < 2:
        raise ValueError(f"a paired comparison needs at least 2 seeds; got {a.size}")
    return a, b


def _check_confidence(confidence: float) -> float:
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}")
    return float(confidence)


def paired_comparison(a, b, confidence: float = 0.95) -> dict:
    """Compare per-seed values ``a`` (a method) and ``b`` (its reference) run on the same seeds, in the same order.

    Returns ``{"n", "mean_a", "mean_b", "mean_diff" (mean of a − b), "sd_diff", "ci_low", "ci_high" (t-interval at
    ``confidence``), "p_ttest" (paired t, two-sided), "p_wilcoxon" (signed-rank, two-sided), "confidence",
    "note"}``. When every seed gives the same difference the t-statistic is undefined: ``p_ttest`` is NaN and
    ``note`` says why (the interval collapses to that difference); when every difference is 0 the Wilcoxon test
    is undefined too. Raises ``ValueError`` for fewer than 2 seeds, unequal lengths or non-finite values.

    >>> r = paired_comparison([2.0, 3.0, 4.0], [1.0, 1.0, 1.0])
    >>> r["mean_diff"], round(r["ci_low"], 3), round(r["ci_high"], 3)
    (2.0, -0.484, 4.484)
    """
    confidence = _check_confidence(confidence)
    a, b = paired_values(a, b)
    d = a - b
    n = d.size
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    out = {"n": n, "mean_a": float(a.mean()), "mean_b": float(b.mean()), "mean_diff": mean, "sd_diff": sd,
           "confidence": confidence, "note": ""}
    if sd == 0.0:
        out.update(ci_low=mean, ci_high=mean, p_ttest=math.nan,
                   note="every seed gives the same difference: the t-test is undefined")
    else:
        res = stats.ttest_rel(a, b)
        ci = res.confidence_interval(confidence_level=confidence)
        out.update(ci_low=float(ci.low), ci_high=float(ci.high), p_ttest=float(res.pvalue))
    if np.all(d == 0.0):
        out["p_wilcoxon"] = math.nan
        out["note"] = "every seed gives the same value for both: no test"
    else:
        with warnings.catch_warnings():  # scipy warns when it falls back from the exact distribution (ties)
            warnings.simplefilter("ignore")
            out["p_wilcoxon"] = float(stats.wilcoxon(a, b).pvalue)
    return out
