"""Feature-level noise: an instant stand-in for re-encoding degraded inputs (for sliders).

``x'_{i,d} = x_{i,d} + s · scale · σ_d · ε_{i,d}``, ``ε ~ N(0, 1)``, where ``σ_d`` is the standard deviation of
dimension ``d`` over the items (or a given ``reference_std``), so ``s · scale = 1`` gives a signal-to-noise
ratio of one in every dimension. Optionally each row is L2-normalised afterwards.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from vlr_viz.arrays import l2_normalize
from vlr_viz.imbalance.degrade_image import check_seed, check_severity, hash_words, item_generators


def feature_noise(features, severity: float, seed: int = 0, renormalize: bool = False, scale: float = 1.0,
                  reference_std=None, item_keys: Sequence | None = None) -> np.ndarray:
    """Add Gaussian noise scaled to each dimension's spread; returns float32 ``(N, D)``.

    Args:
        features: ``(N, D)`` array.
        severity: ``s`` in [0, 1]; ``s = 0`` returns an exact copy (re-normalised if ``renormalize``).
        seed: noise seed; the whole ``(N, D)`` draw comes from one generator seeded by ``("feature_noise", seed)``.
        renormalize: L2-normalise each row after adding noise.
        scale: noise standard deviation at ``s = 1``, in units of ``σ_d``.
        reference_std: ``(D,)`` spreads to use instead of the items' own (keeps a subset's noise level equal to
            the full set's).
        item_keys: when given, row ``i`` draws from its own generator seeded by ``item_keys[i]`` (slower, but a
            subset then gets exactly the noise of the same rows of the full set, given ``reference_std``).
    """
    x = np.asarray(features)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"features must be a numeric (N, D) array; got shape {x.shape}")
    s = check_severity(severity)
    seed = check_seed(seed)
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be a non-negative number; got {scale!r}")
    x = x.astype(np.float32, copy=True)
    std = x.std(axis=0) if reference_std is None else np.asarray(reference_std, dtype=np.float32)
    if std.shape != (x.shape[1],):
        raise ValueError(f"reference_std must have shape ({x.shape[1]},); got {std.shape}")
    if s > 0.0:
        if item_keys is None:
            g = np.random.default_rng(np.random.SeedSequence(hash_words("feature_noise") + [seed]))
            eps = g.standard_normal(x.shape, dtype=np.float32)
        else:
            gens = item_generators("feature_noise", seed, item_keys, x.shape[0])
            eps = np.stack([g.standard_normal(x.shape[1], dtype=np.float32) for g in gens]) if gens else \
                np.zeros_like(x)
        x += (s * scale) * std * eps
    if renormalize:
        x = l2_normalize(x)
    return x
