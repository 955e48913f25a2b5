"""`Features`: frozen features of a dataset's images and captions, the level between pairs and training tensors."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np



@dataclass
class Features:
    """Frozen features of a `PairSet`: ``image`` ``(N, Di)`` and ``text`` ``(M, Dt)`` float32 (possibly
    memory-mapped), the encoders that made them, and the seconds it took to get them (0 for a cache hit)."""

    image: np.ndarray
    text: np.ndarray
    image_model: str
    text_model: str
    seconds: float = 0.0

    def check(self, n_images: int, n_captions: int, where: str) -> None:
        """Raise ``ValueError`` naming ``where`` unless there is one float row per image and per caption (finiteness
        is checked where features are loaded or trained on, not on every subset)."""
        for name, x, rows in (("image", self.image, n_images), ("text", self.text, n_captions)):
            if np.ndim(x) != 2 or x.shape[0] != rows:
                raise ValueError(f"{where}: {name} features must have {rows} rows (one per "
                                 f"{'image' if name == 'image' else 'caption'}); got shape {np.shape(x)}")
            if not np.issubdtype(x.dtype, np.floating):
                raise ValueError(f"{where}: {name} features must be floating point; got {x.dtype}")

    def subset(self, image_indices, caption_indices) -> "Features":
        return Features(np.asarray(self.image[np.asarray(image_indices)]),
                        np.asarray(self.text[np.asarray(caption_indices)]),
                        self.image_model, self.text_model, self.seconds)
