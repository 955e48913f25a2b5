"""The encoder interface: a frozen model that turns images and/or captions into float32 feature rows.

Images are decoded and preprocessed one at a time by the encoder's `Encoder.image_transform` (a small picklable
callable: no weights inside), so `torch.utils.data.DataLoader` worker processes can decode and resize while the
model runs; the model then embeds whole batches (`Encoder.embed_images`).
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..allocator import reusing_large_blocks
from ..data.sources import ImageSource, image_source
from ..errors import DataFormatError


class _Transformed(Dataset):
    """Items ``start ..`` of a source, each read and transformed; a read error comes back as its message, so the
    main process can raise it as one clear `DataFormatError` (a worker's exception would arrive as a traceback)."""

    def __init__(self, source: ImageSource, transform: Callable, start: int):
        self.source, self.transform, self.start = source, transform, start

    def __len__(self) -> int:
        return len(self.source) - self.start

    def __getitem__(self, i: int):
        try:
            return self.transform(self.source.read(self.start + i))
        except (DataFormatError, ValueError, OSError) as e:
            return f"{e}"


def _collate(items: list):
    """A batch tensor, or the first item's error message (collation runs in the worker: nothing may raise here)."""
    return next((item for item in items if isinstance(item, str)), None) or torch.stack(items)


class Encoder:
    """Base class. Subclasses set ``name``, ``modalities``, ``dim``, ``cache_token`` and implement
    ``image_transform`` + ``embed_images`` (image towers) and/or ``_texts`` (text towers).

    ``cache_token`` must change whenever the weights or the preprocessing change: it keys the feature cache.
    """

    name: str = "encoder"
    modalities: tuple[str, ...] = ()
    dim: int = 0
    cache_token: str = ""

    def image_transform(self) -> Callable[[np.ndarray], torch.Tensor]:
        """A picklable callable: uint8 ``(H, W, 3)`` at the image's own size → the model's input tensor."""
        raise NotImplementedError(f"{self.name} does not encode images")

    def embed_images(self, batch: torch.Tensor) -> torch.Tensor:
        """Model inputs ``(B, ...)`` from `image_transform` → features ``(B, dim)``."""
        raise NotImplementedError(f"{self.name} does not encode images")

    def _texts(self, batch: list[str]) -> torch.Tensor:  # B captions -> (B, dim)
        raise NotImplementedError(f"{self.name} does not encode texts")

    def image_batches(self, images, start: int = 0, batch_size: int = 64, workers: int = 0) -> Iterator[np.ndarray]:
        """Features of images ``start ..`` of ``images`` (array or `ImageSource`), one float32 batch at a time."""
        if "image" not in self.modalities:
            raise ValueError(f"encoder {self.name!r} has no image tower")
        source = image_source(images)
        loader = DataLoader(_Transformed(source, self.image_transform(), start), batch_size=batch_size,
                            num_workers=workers, collate_fn=_collate, persistent_workers=False)
        for batch in loader:
            if isinstance(batch, str):
                raise DataFormatError(batch)
            with torch.inference_mode():
                yield self.embed_images(batch).float().cpu().numpy()

    def text_batches(self, captions: list[str], start: int = 0, batch_size: int = 256) -> Iterator[np.ndarray]:
        """Features of captions ``start ..``, one float32 batch at a time."""
        if "text" not in self.modalities:
            raise ValueError(f"encoder {self.name!r} has no text tower")
        for i in range(start, len(captions), batch_size):
            with torch.inference_mode():
                yield self._texts(captions[i:i + batch_size]).float().cpu().numpy()

    def encode_images(self, images, batch_size: int = 64, progress: bool = True, workers: int = 0) -> np.ndarray:
        """Features ``(N, dim)`` float32 of a uint8 array ``(N, H, W, 3)`` or an `ImageSource` (no cache)."""
        if isinstance(images, np.ndarray) and (images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8):
            raise ValueError(f"images must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}")
        batches = self.image_batches(images, 0, batch_size, workers)
        with reusing_large_blocks():
            out = list(with_progress(batches, len(images), 0, f"{self.name} images", "img", progress))
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def encode_texts(self, captions: list[str], batch_size: int = 256, progress: bool = True) -> np.ndarray:
        """Features ``(M, dim)`` float32 of captions (no cache)."""
        captions = check_captions(captions)
        batches = self.text_batches(captions, 0, batch_size)
        with reusing_large_blocks():
            out = list(with_progress(batches, len(captions), 0, f"{self.name} texts", "caption", progress))
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


def with_progress(batches: Iterator[np.ndarray], total: int, initial: int, desc: str, unit: str,
                  show: bool = True) -> Iterator[np.ndarray]:
    """Pass the batches through, advancing a tqdm bar (rate and ETA) by the rows of each."""
    from tqdm.auto import tqdm

    with tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not show, smoothing=0.1) as bar:
        for batch in batches:
            bar.update(len(batch))
            yield batch


def check_captions(captions) -> list[str]:
    """The captions as a list, or ``ValueError`` naming the first empty or non-string one."""
    captions = list(captions)
    for i, c in enumerate(captions):
        if not isinstance(c, str) or not c.strip():
            raise ValueError(f"caption {i} is empty: {c!r}")
    return captions


class ResizeCenterCrop:
    """uint8 ``(H, W, 3)`` → float ``(3, size, size)``: ``(x - offset) / scale``, the shorter side resized to
    ``size`` (bilinear; antialiased only when shrinking), then the centre ``size × size`` crop.

    A square image is just resized, so Twemoji's 72 px glyphs become 128 px exactly as a plain resize would.
    """

    def __init__(self, size: int, offset: float = 127.0, scale: float = 128.0):
        self.size, self.offset, self.scale = int(size), float(offset), float(scale)

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        import torch.nn.functional as F

        x = (torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1) - self.offset) / self.scale
        h, w = x.shape[1:]
        s = self.size
        new = (s, max(s, round(w * s / h))) if h <= w else (max(s, round(h * s / w)), s)
        if new != (h, w):
            x = F.interpolate(x[None], size=new, mode="bilinear", align_corners=False,
                              antialias=new[0] < h or new[1] < w)[0]
        top, left = int(round((new[0] - s) / 2)), int(round((new[1] - s) / 2))
        return x[:, top:top + s, left:left + s]
