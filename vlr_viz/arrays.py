"""Small array helpers that every layer shares: matrix validation, row normalisation, cosine similarity and the
first caption of each image. Each concept lives here once; the rest of vlr_viz imports it from here."""
from __future__ import annotations

import numpy as np

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


def unit_rows(x, dtype=None) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm without underflow or overflow; all-zero rows stay zero.

    Each row is first multiplied by the power of two ``2^-e`` that brings its largest magnitude into [0.5, 1)
    (``frexp``/``ldexp``: exact, so ordinary rows give bit for bit ``x_i / ‖x_i‖₂``), then optionally cast to
    ``dtype``, then divided by its norm. Rows of tiny or huge but finite entries (``1e-30`` in float32, whose
    squares underflow to 0) thus come out as unit vectors instead of "zero norm" or inf. Floating arrays keep
    their dtype unless ``dtype`` is given; other arrays become float64.

    >>> unit_rows(np.array([[3e-30, 4e-30]], dtype=np.float32)).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if x.shape[-1] == 0:
        return x.astype(dtype or x.dtype)
    _, exponent = np.frexp(np.max(np.abs(x), axis=-1, keepdims=True))
    scaled = np.ldexp(x, -exponent)
    if dtype is not None:
        scaled = scaled.astype(dtype)
    norm = np.linalg.norm(scaled, axis=-1, keepdims=True)
    return scaled / np.where(norm == 0, 1, norm).astype(scaled.dtype)


def l2_normalize(x, center: bool = False) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm (``center``: subtract the mean row first), zero rows left at zero;
    computed by `unit_rows`, so tiny rows are not lost to underflow. Floating arrays keep their dtype; other
    arrays become float64."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if center:
        x = x - x.mean(axis=0)
    return unit_rows(x)


def cosine_matrix(x, y=None) -> np.ndarray:
    """``(len(x), len(y))`` float64 cosine similarities ``norm(x) norm(y)ᵀ`` (``y`` defaults to ``x``)."""
    xn = l2_normalize(x)
    yn = xn if y is None else l2_normalize(y)
    return (xn @ yn.T).astype(np.float64)


def caption_sum_per_image(text, txt_to_img, n_images: int) -> np.ndarray:
    """``(N, D)`` float64: each image's sum of its captions' unit-length rows of ``text`` (its direction is their
    normalised mean, what a cosine sees; zeros for an image without caption)."""
    out = np.zeros((int(n_images), np.shape(text)[1]))
    np.add.at(out, np.asarray(txt_to_img, dtype=np.int64), l2_normalize(text))
    return out


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
