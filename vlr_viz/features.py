"""Teacher / backbone features of a `PairSet`, in one call (cached on disk)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .cache import default_cache_dir
from .data.pairs import PairSet
from .encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER, encode_images, encode_texts


@dataclass
class Features:
    """Frozen features of a `PairSet`: ``image`` ``(N, Di)`` and ``text`` ``(M, Dt)`` float32."""

    image: np.ndarray
    text: np.ndarray
    image_model: str
    text_model: str
    seconds: float = 0.0


def load_features(pairs: PairSet, image_model: str = DEFAULT_IMAGE_ENCODER, text_model: str = DEFAULT_TEXT_ENCODER,
                  cache_dir=None, progress: bool = True, image_kwargs: dict | None = None,
                  text_kwargs: dict | None = None) -> Features:
    """Encode ``pairs.images`` and ``pairs.captions`` (cached; ``cache_dir=None`` means the default cache)."""
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    t0 = time.perf_counter()
    img = encode_images(pairs.images, model=image_model, cache_dir=cache_dir, progress=progress,
                        **(image_kwargs or {}))
    txt = encode_texts(pairs.captions, model=text_model, cache_dir=cache_dir, progress=progress,
                       **(text_kwargs or {}))
    return Features(img, txt, image_model, text_model, time.perf_counter() - t0)
