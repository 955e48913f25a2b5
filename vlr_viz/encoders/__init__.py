"""Frozen encoders (teachers and student backbones) with an on-disk, resumable feature cache.

>>> feats = encode_texts(["a cat", "a kitten"], model="minilm-l6")   # (2, 384) float32

Extraction writes its rows chunk by chunk into a memory-mapped entry (`vlr_viz.store.array_rows.cached_rows`): a killed
run continues where it stopped, and an interrupted entry never reads as complete. Cache keys are content-based: the
encoder's ``cache_token`` (weights digest and preprocessing) plus, for images, the source's identity (the array's bytes,
or the image files' relative paths, sizes and modification times) and, for texts, the captions.
"""
from __future__ import annotations

import os

import numpy as np

from ..allocator import reusing_large_blocks
from ..data.sources import ArrayImages, image_source
from ..keys import content_hash
from ..store.array_rows import cached_rows
from ..store.locations import default_cache_dir
from .base import Encoder, check_captions, with_progress
from .registry import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER, KNOWN, get_encoder

_DEFAULT = object()
COMMIT_ROWS = 4096
"""Rows between two progress commits of a feature extraction (what a kill can cost)."""


def _cache_dir(cache_dir):
    return default_cache_dir() if cache_dir is _DEFAULT else cache_dir


def _entry_name(prefix: str, enc: Encoder) -> str:
    return f"{prefix}-{enc.name.replace(':', '_').replace('/', '_')}"


def default_workers(images) -> int:
    """Decoding processes for an image source: none for images in memory, else one per spare core (at most 4)."""
    if isinstance(images, (np.ndarray, ArrayImages)):
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def encode_images(images, model: str = DEFAULT_IMAGE_ENCODER, batch_size: int = 64, cache_dir=_DEFAULT,
                  progress: bool = True, workers: int | None = None, **encoder_kwargs) -> np.ndarray:
    """Features ``(N, dim)`` float32 of uint8 images ``(N, H, W, 3)`` or an `~vlr_viz.data.sources.ImageSource`.

    Cached and resumable (module docstring); ``cache_dir=None`` disables the cache. ``workers`` decoding processes
    (default `default_workers`). Image files are checked to exist before any encoding starts.
    """
    if isinstance(images, np.ndarray) and (images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8):
        raise ValueError(f"images must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}")
    source = image_source(images)
    source.check()
    enc = get_encoder(model, **encoder_kwargs)
    workers = default_workers(images) if workers is None else int(workers)
    key = content_hash("images", source.identity(), enc.cache_token)
    return _cached_features(enc, "img", key, len(source), batch_size, cache_dir, progress,
                            lambda start: enc.image_batches(source, start, batch_size, workers))


def encode_texts(captions: list[str], model: str = DEFAULT_TEXT_ENCODER, batch_size: int = 256,
                 cache_dir=_DEFAULT, progress: bool = True, **encoder_kwargs) -> np.ndarray:
    """Features ``(M, dim)`` float32 of captions, cached and resumable (see `encode_images`).

    When at most half the captions are distinct (template captions, captions coarsened to a category), only the
    distinct ones are encoded (sorted, as their own cache entry) and their rows repeated.
    """
    captions = check_captions(captions)
    distinct, inverse = np.unique(np.asarray(captions, dtype=object), return_inverse=True)
    if 0 < distinct.size <= len(captions) // 2:
        return encode_texts(distinct.tolist(), model, batch_size, cache_dir, progress, **encoder_kwargs)[inverse]
    enc = get_encoder(model, **encoder_kwargs)
    key = content_hash("texts", captions, enc.cache_token)
    return _cached_features(enc, "txt", key, len(captions), batch_size, cache_dir, progress,
                            lambda start: enc.text_batches(captions, start, batch_size))


def _cached_features(enc: Encoder, prefix: str, key: str, n: int, batch_size: int, cache_dir, progress: bool,
                     batches) -> np.ndarray:
    """The ``(n, enc.dim)`` features of one cache entry, encoded chunk by chunk from ``batches(start)`` where the
    cache lacks them (`vlr_viz.store.array_rows.cached_rows`: resumable, with a tqdm bar of the rate and ETA)."""
    if n == 0:
        return np.zeros((0, enc.dim), np.float32)
    unit = {"img": ("images", "img"), "txt": ("texts", "caption")}[prefix]

    def blocks(start: int):
        return with_progress(batches(start), n, start, f"{enc.name} {unit[0]}", unit[1], progress)

    with reusing_large_blocks():  # the whole extraction, so that its batches reuse each other's freed memory
        feats, _ = cached_rows(_cache_dir(cache_dir), _entry_name(prefix, enc), key, n, (enc.dim,), blocks,
                               meta={"encoder": enc.name, "token": enc.cache_token, "n": n},
                               commit_rows=COMMIT_ROWS, resume_token=f"batch{batch_size}")
    return feats


__all__ = ["Encoder", "KNOWN", "DEFAULT_IMAGE_ENCODER", "DEFAULT_TEXT_ENCODER", "default_workers", "get_encoder",
           "encode_images", "encode_texts"]
