"""Frozen encoders (teachers and student backbones) with an on-disk feature cache.

>>> feats = encode_texts(["a cat", "a kitten"], model="minilm-l6")   # (2, 384) float32
"""
from __future__ import annotations

import numpy as np

from ..cache import cached_array, content_hash, default_cache_dir
from .base import Encoder
from .registry import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER, KNOWN, get_encoder

_DEFAULT = object()


def _cache_dir(cache_dir):
    return default_cache_dir() if cache_dir is _DEFAULT else cache_dir


def encode_images(images: np.ndarray, model: str = DEFAULT_IMAGE_ENCODER, batch_size: int = 64,
                  cache_dir=_DEFAULT, progress: bool = True, **encoder_kwargs) -> np.ndarray:
    """Features ``(N, dim)`` float32 of uint8 images ``(N, H, W, 3)``, cached by content hash.

    The key covers the image bytes, the encoder name, its weights file digest and its preprocessing.
    ``cache_dir=None`` disables the cache.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}")
    enc = get_encoder(model, **encoder_kwargs)
    key = content_hash("images", images, enc.cache_token)
    feats, _ = cached_array(_cache_dir(cache_dir), f"img-{enc.name.replace(':', '_').replace('/', '_')}", key,
                            lambda: enc.encode_images(images, batch_size, progress).astype(np.float32),
                            meta={"encoder": enc.name, "token": enc.cache_token, "n": len(images)})
    return feats


def encode_texts(captions: list[str], model: str = DEFAULT_TEXT_ENCODER, batch_size: int = 256,
                 cache_dir=_DEFAULT, progress: bool = True, **encoder_kwargs) -> np.ndarray:
    """Features ``(M, dim)`` float32 of captions, cached by content hash (see `encode_images`)."""
    captions = list(captions)
    for i, c in enumerate(captions):
        if not isinstance(c, str) or not c.strip():
            raise ValueError(f"caption {i} is empty: {c!r}")
    enc = get_encoder(model, **encoder_kwargs)
    key = content_hash("texts", captions, enc.cache_token)
    feats, _ = cached_array(_cache_dir(cache_dir), f"txt-{enc.name.replace(':', '_').replace('/', '_')}", key,
                            lambda: enc.encode_texts(captions, batch_size, progress).astype(np.float32),
                            meta={"encoder": enc.name, "token": enc.cache_token, "n": len(captions)})
    return feats


__all__ = ["Encoder", "KNOWN", "DEFAULT_IMAGE_ENCODER", "DEFAULT_TEXT_ENCODER", "get_encoder",
           "encode_images", "encode_texts"]
