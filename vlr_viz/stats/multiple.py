"""Holm–Bonferroni adjustment of a family of p-values (Holm, Scand. J. Statist. 1979).

With the m finite p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted values are
``p̃_(i) = min(1, max_{j <= i} (m - j + 1) · p_(j))``. Rejecting every hypothesis with ``p̃ <= α`` controls the
family-wise error rate at α under any dependence between the tests; it is uniformly more powerful than
Bonferroni (``m · p``).
"""
from __future__ import annotations

import numpy as np


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values in the input's shape and order; NaN entries (cells without a test) stay NaN and do
    not count towards m.

    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    flat = p.ravel()
    finite = np.isfinite(flat)
    if np.isinf(flat).any():
        raise ValueError("p_values holds an infinite value; p-values lie in [0, 1] (NaN marks a missing test)")
    if ((flat[finite] < 0) | (flat[finite] > 1)).any():
        bad = int(np.flatnonzero(finite & ((flat < 0) | (flat > 1)))[0])
        raise ValueError(f"p_values[{bad}] = {flat[bad]} is not a probability in [0, 1]")
    out = np.full(flat.shape, np.nan)
    idx = np.flatnonzero(finite)
    m = idx.size
    if m:
        order = idx[np.argsort(flat[idx], kind="stable")]
        scaled = flat[order] * (m - np.arange(m))
        out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out.reshape(p.shape)
