"""Image degradations with a severity knob ``s`` in [0, 1] (``s = 0`` returns an exact copy).

Kinds (docs/method.md, D1):

- ``"blur"``: Gaussian blur, ``sigma = s · max_sigma_frac · min(H, W)`` (default up to 1/8 of the side).
- ``"noise"``: additive Gaussian noise, ``std = s · max_std`` grey levels (default 128), clipped to [0, 255].
- ``"downscale"``: down-sampled to ``min(H, W) · (min_size / min(H, W))^s`` pixels (area averaging) and back up
  (bilinear): a geometric path from the full size at ``s = 0`` to ``min_size`` (default 4 px) at ``s = 1``.
- ``"occlusion"``: a ``fill``-valued (default mid grey) rectangle with the image's aspect ratio covering a fraction
  ``s`` of the area, at a random position.

Randomness is drawn per item: item ``i`` gets its own ``numpy.random.Generator`` seeded by
``(kind, seed, item_keys[i])`` (:func:`item_generators`). ``item_keys`` defaults to the item index; pass stable
ids (``PairSet.image_ids``) so that a subset of a data set degrades exactly like the same items of the full set.
"""
from __future__ import annotations

import hashlib
import numbers
from typing import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from ..data.sources import ImageSource
from ..keys import content_hash

IMAGE_KINDS = ("blur", "noise", "downscale", "occlusion")
_CHUNK = 256


def check_severity(severity, name: str = "severity") -> float:
    """Return ``severity`` as a float, or raise ``ValueError`` naming ``name`` if it is not a number in [0, 1]."""
    if isinstance(severity, bool) or not isinstance(severity, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1]; got {severity!r}")
    s = float(severity)
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1]; got {severity!r}")
    return s


def check_seed(seed) -> int:
    """Return ``seed`` as a non-negative int, or raise naming ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    return int(seed)


def hash_words(text: str) -> list[int]:
    """Four 32-bit words of the SHA-256 of ``text`` (stable across processes, unlike ``hash``)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def item_generators(kind: str, seed: int, item_keys: Sequence | None, n: int) -> list[np.random.Generator]:
    """One generator per item, seeded by ``SeedSequence([kind words..., seed, tag, key words...])``.

    An integer key enters as itself (tag 0), any other key through the SHA-256 of its ``str`` (tag 1), so the
    stream of an item depends only on (kind, seed, its key), never on the other items or their order.
    """
    seed = check_seed(seed)
    if item_keys is None:
        item_keys = range(n)
    elif len(item_keys) != n:
        raise ValueError(f"item_keys has {len(item_keys)} entries for {n} items")
    head = hash_words(kind) + [seed]
    gens = []
    for key in item_keys:
        if isinstance(key, numbers.Integral) and not isinstance(key, bool) and int(key) >= 0:
            entropy = head + [0, int(key)]
        else:
            entropy = head + [1] + hash_words(str(key))
        gens.append(np.random.default_rng(np.random.SeedSequence(entropy)))
    return gens


def _check_images(images) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise ValueError(f"images must be a uint8 array (N, H, W, 3); got {got}")
    return images


def blur_images(images: np.ndarray, severity: float, max_sigma_frac: float = 0.125) -> np.ndarray:
    """Gaussian blur with ``sigma = severity · max_sigma_frac · min(H, W)`` pixels (deterministic, no seed)."""
    images = _check_images(images)
    s = check_severity(severity)
    sigma = s * max_sigma_frac * min(images.shape[1:3])
    if s == 0.0 or sigma == 0.0:
        return images.copy()
    out = np.empty_like(images)
    for lo in range(0, images.shape[0], _CHUNK):
        block = images[lo : lo + _CHUNK].astype(np.float32)
        block = ndimage.gaussian_filter(block, sigma=(0, sigma, sigma, 0), mode="nearest")
        out[lo : lo + _CHUNK] = np.clip(np.rint(block), 0, 255).astype(np.uint8)
    return out


def noise_images(images: np.ndarray, severity: float, seed: int = 0, item_keys: Sequence | None = None,
                 max_std: float = 128.0) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``severity · max_std`` grey levels, then clip to [0, 255]."""
    images = _check_images(images)
    s = check_severity(severity)
    gens = item_generators("noise", seed, item_keys, images.shape[0])
    if s == 0.0:
        return images.copy()
    shape = images.shape[1:]
    out = np.empty_like(images)
    for i, g in enumerate(gens):
        noisy = images[i].astype(np.float32) + (s * max_std) * g.standard_normal(shape, dtype=np.float32)
        out[i] = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return out


def downscale_images(images: np.ndarray, severity: float, min_size: int = 4) -> np.ndarray:
    """Shrink by area averaging to ``min(H, W) · (min_size / min(H, W))^severity`` px, then enlarge bilinearly."""
    images = _check_images(images)
    s = check_severity(severity)
    if not isinstance(min_size, numbers.Integral) or min_size < 1:
        raise ValueError(f"min_size must be a positive integer; got {min_size!r}")
    h, w = images.shape[1:3]
    factor = (min(min_size, min(h, w)) / min(h, w)) ** s
    small = (max(1, round(w * factor)), max(1, round(h * factor)))
    if s == 0.0 or small == (w, h):
        return images.copy()
    out = np.empty_like(images)
    for i in range(images.shape[0]):
        img = Image.fromarray(images[i]).resize(small, Image.Resampling.BOX)
        out[i] = np.asarray(img.resize((w, h), Image.Resampling.BILINEAR))
    return out


def occlude_images(images: np.ndarray, severity: float, seed: int = 0, item_keys: Sequence | None = None,
                   fill: int = 128) -> np.ndarray:
    """Paint a ``fill`` rectangle of ``round(sqrt(s)·H) × round(sqrt(s)·W)`` pixels at a uniform random position."""
    images = _check_images(images)
    s = check_severity(severity)
    if not isinstance(fill, numbers.Integral) or not 0 <= fill <= 255:
        raise ValueError(f"fill must be an integer grey level in [0, 255]; got {fill!r}")
    gens = item_generators("occlusion", seed, item_keys, images.shape[0])
    h, w = images.shape[1:3]
    oh, ow = round(np.sqrt(s) * h), round(np.sqrt(s) * w)
    out = images.copy()
    if s == 0.0 or oh == 0 or ow == 0:
        return out
    for i, g in enumerate(gens):
        top, left = g.integers(0, h - oh + 1), g.integers(0, w - ow + 1)
        out[i, top : top + oh, left : left + ow] = fill
    return out


def degrade_images(images: np.ndarray, kind: str, severity: float, seed: int = 0,
                   item_keys: Sequence | None = None, **options) -> np.ndarray:
    """Apply the image degradation ``kind`` (one of :data:`IMAGE_KINDS`) at ``severity``; same shape and dtype out.

    ``options`` go to the kind's function (``max_sigma_frac``, ``max_std``, ``min_size``, ``fill``).
    Deterministic kinds (blur, downscale) ignore ``seed`` and ``item_keys``.
    """
    if kind not in IMAGE_KINDS:
        raise ValueError(f"unknown image degradation kind {kind!r}; known kinds: {', '.join(IMAGE_KINDS)}")
    check_seed(seed)
    if kind == "blur":
        return blur_images(images, severity, **options)
    if kind == "noise":
        return noise_images(images, severity, seed=seed, item_keys=item_keys, **options)
    if kind == "downscale":
        return downscale_images(images, severity, **options)
    return occlude_images(images, severity, seed=seed, item_keys=item_keys, **options)


class DegradedImages(ImageSource):
    """Another image source (`vlr_viz.data.sources`) whose images are degraded on read (`degrade_images`, one item
    at a time); its identity hashes the source's identity and the degradation.

    Item ``i`` is degraded with its own generator keyed by ``item_keys[i]`` (the dataset's image ids), so the
    result equals degrading the whole array at once.
    """

    def __init__(self, source: ImageSource, kind: str, severity: float, seed: int, item_keys: Sequence,
                 options: dict | None = None):
        if len(item_keys) != len(source):
            raise ValueError(f"item_keys has {len(item_keys)} entries for {len(source)} images")
        self.source, self.kind, self.severity, self.seed = source, kind, float(severity), int(seed)
        self.item_keys, self.options = list(item_keys), dict(options or {})

    def __len__(self) -> int:
        return len(self.source)

    def read(self, i: int) -> np.ndarray:
        return degrade_images(self.source.read(i)[None], self.kind, self.severity, seed=self.seed,
                              item_keys=[self.item_keys[i]], **self.options)[0]

    def name_of(self, i: int) -> str:
        return self.source.name_of(i)

    def check(self) -> None:
        self.source.check()

    def subset(self, indices) -> "DegradedImages":
        idx = np.asarray(indices, dtype=np.int64)
        return DegradedImages(self.source.subset(idx), self.kind, self.severity, self.seed,
                              [self.item_keys[int(i)] for i in idx], self.options)

    def identity(self) -> str:
        return content_hash("degraded", self.source.identity(), self.kind, self.severity, self.seed,
                            self.item_keys, self.options)
