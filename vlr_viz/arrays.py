"""Small array helpers that every layer shares: matrix validation, row normalisation, cosine similarity and the
first caption of each image. Each concept lives here once; the rest of vlr_viz imports it from here."""
from __future__ import annotations

import numpy as np

EPS = 1e-12
"""Smallest row norm divided by (a zero row stays zero instead of becoming NaN)."""


def numeric_matrix(x, name: str, dtype=np.float64) -> np.ndarray:
    """``x`` as a ``dtype`` array, after checking it is a non-empty, finite, numeric ``(N, D)`` matrix (``ValueError``
    naming ``name`` otherwise)."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{name} must be a non-empty numeric (N, D) array; got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ValueError(f"{name} contains NaN or infinite values (first in row {bad})")
    return x.astype(dtype)


def l2_normalize(x, center: bool = False) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm, ``x_i / max(‖x_i‖₂, 1e-12)`` (``center``: subtract the mean row
    first). Floating arrays keep their dtype; other arrays become float64."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if center:
        x = x - x.mean(axis=0)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), EPS)


def cosine_matrix(x, y=None) -> np.ndarray:
    """``(len(x), len(y))`` float64 cosine similarities ``norm(x) norm(y)ᵀ`` (``y`` defaults to ``x``)."""
    xn = l2_normalize(x)
    yn = xn if y is None else l2_normalize(y)
    return (xn @ yn.T).astype(np.float64)


def first_caption_of_image(txt_to_img, n_images: int | None = None) -> np.ndarray:
    """``(N,)`` index of the first caption of each image (``-1`` for an image without caption).

    >>> first_caption_of_image([1, 0, 1, 0]).tolist()
    [1, 0]
    """
    txt_to_img = np.asarray(txt_to_img, dtype=np.int64)
    n = (int(txt_to_img.max()) + 1 if txt_to_img.size else 0) if n_images is None else int(n_images)
    first = np.full(n, -1, dtype=np.int64)
    order = np.arange(txt_to_img.size)[::-1]
    first[txt_to_img[order]] = order
    return first


def check_finite_rows(x, name: str, chunk: int = 65536) -> None:
    """Raise ``ValueError`` naming ``name`` and the first row that holds NaN or inf; reads ``x`` in chunks of rows,
    so a memory-mapped array is never loaded whole."""
    for lo in range(0, len(x), chunk):
        block = np.asarray(x[lo:lo + chunk])
        ok = np.isfinite(block).reshape(len(block), -1).all(axis=1)
        if not ok.all():
            raise ValueError(f"{name} contains NaN or infinite values (first in row {lo + int(np.argmin(ok))})")
