"""How many points a plotly figure of the common space draws, and the subsample of whole pairs it draws above that."""
from __future__ import annotations

import numpy as np

PLOTLY_MAX_POINTS = 20000
"""Above this many points a notebook shows the common space with jupyter-scatter instead of plotly."""


def sample_pairs(txt_to_img, n_images: int, max_points: int = PLOTLY_MAX_POINTS, seed: int = 0):
    """A seeded random subsample of whole pairs (an image with all its captions) of at most ``max_points`` points.

    Returns ``(images, captions, txt_to_img, fraction)``: the kept image and caption indices (sorted), the kept
    captions' image positions within ``images`` and the fraction of points kept (1.0 when nothing is left out).
    """
    t2i = np.asarray(txt_to_img, np.int64)
    total = n_images + t2i.size
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2; got {max_points}")
    if total <= max_points:
        return np.arange(n_images), np.arange(t2i.size), t2i, 1.0
    per_image = np.bincount(t2i, minlength=n_images) + 1  # the image and its captions
    order = np.random.default_rng(seed).permutation(n_images)
    keep = np.sort(order[:max(1, int(np.searchsorted(np.cumsum(per_image[order]), max_points, side="right")))])
    position = np.full(n_images, -1, np.int64)
    position[keep] = np.arange(keep.size)
    captions = np.flatnonzero(position[t2i] >= 0)
    return keep, captions, position[t2i[captions]], (keep.size + captions.size) / total
