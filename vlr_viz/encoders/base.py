"""The encoder interface: a frozen model that turns images and/or captions into float32 feature rows."""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm


class Encoder:
    """Base class. Subclasses set ``name``, ``modalities``, ``dim`` and implement ``_images`` / ``_texts``.

    ``cache_token`` must change whenever the weights or the preprocessing change: it keys the feature cache.
    """

    name: str = "encoder"
    modalities: tuple[str, ...] = ()
    dim: int = 0
    cache_token: str = ""

    def _images(self, batch: np.ndarray) -> torch.Tensor:  # uint8 (B, H, W, 3) -> (B, dim)
        raise NotImplementedError(f"{self.name} does not encode images")

    def _texts(self, batch: list[str]) -> torch.Tensor:  # B captions -> (B, dim)
        raise NotImplementedError(f"{self.name} does not encode texts")

    @torch.inference_mode()
    def encode_images(self, images: np.ndarray, batch_size: int = 64, progress: bool = True) -> np.ndarray:
        if "image" not in self.modalities:
            raise ValueError(f"encoder {self.name!r} has no image tower")
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}")
        out = [self._images(images[i:i + batch_size]).float().cpu().numpy()
               for i in tqdm(range(0, len(images), batch_size), desc=f"{self.name} images",
                             disable=not progress, unit="batch")]
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    @torch.inference_mode()
    def encode_texts(self, captions: list[str], batch_size: int = 256, progress: bool = True) -> np.ndarray:
        if "text" not in self.modalities:
            raise ValueError(f"encoder {self.name!r} has no text tower")
        captions = list(captions)
        for i, c in enumerate(captions):
            if not isinstance(c, str) or not c.strip():
                raise ValueError(f"caption {i} is empty: {c!r}")
        out = [self._texts(captions[i:i + batch_size]).float().cpu().numpy()
               for i in tqdm(range(0, len(captions), batch_size), desc=f"{self.name} texts",
                             disable=not progress, unit="batch")]
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)
