"""Teacher / backbone features of a `PairSet`, in one call (cached on disk, resumable)."""
from __future__ import annotations

import time

from .data.feature_arrays import Features
from .data.pairs import PairSet
from .encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER, encode_images, encode_texts
from .store.locations import default_cache_dir


def load_features(pairs: PairSet, image_model: str | None = None, text_model: str | None = None,
                  cache_dir=None, progress: bool = True, image_kwargs: dict | None = None,
                  text_kwargs: dict | None = None, workers: int | None = None) -> Features:
    """Encode ``pairs.images`` and ``pairs.captions`` (cached; ``cache_dir=None`` means the default cache).

    A dataset of precomputed features (``pairs.features``) returns them as they are; naming an encoder for such a
    dataset is an error. Feature noise recorded by `vlr_viz.imbalance.degrade_pairs` is applied to the result. ``image_model`` / ``text_model`` default to the vision and text teachers
    (``efficientnet-lite0``, ``minilm-l6``); ``workers`` decoding processes for image files.
    """
    from .imbalance.presets import apply_feature_degradation

    if pairs.features is not None:
        for asked, have in ((image_model, pairs.features.image_model), (text_model, pairs.features.text_model)):
            if asked is not None and asked != have:
                raise ValueError(f"{pairs.name} holds precomputed features ({have}); it cannot be encoded with {asked}")
        return apply_feature_degradation(pairs, pairs.features)
    image_model = image_model or DEFAULT_IMAGE_ENCODER
    text_model = text_model or DEFAULT_TEXT_ENCODER
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    t0 = time.perf_counter()
    images = pairs.require_images("encoding images")
    captions = pairs.require_captions("encoding captions")
    img = encode_images(images, model=image_model, cache_dir=cache_dir, progress=progress, workers=workers,
                        **(image_kwargs or {}))
    txt = encode_texts(captions, model=text_model, cache_dir=cache_dir, progress=progress, **(text_kwargs or {}))
    return apply_feature_degradation(pairs, Features(img, txt, image_model, text_model, time.perf_counter() - t0))


__all__ = ["Features", "load_features"]
