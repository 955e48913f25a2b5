"""Decoding image files into uint8 RGB arrays, correctly for every PIL mode.

Conversions (`to_rgb8`):

- transparency (``RGBA``, ``LA``, ``PA``, palette images with a transparent colour) is composited onto white;
- 16-bit integer images (``I;16``, ``I;16B``, ``I;16L``, and ``I``, which PIL uses for 16-bit PNG and TIFF) are
  scaled from ``[0, 65535]`` to ``[0, 255]`` (``round(x / 257)``), not clipped (clipping turns them white);
- floating-point images (``F``) are taken to lie in ``[0, 1]`` and scaled by 255 (values outside are clipped);
- everything else (``L``, ``1``, ``P``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``) goes through PIL's own ``convert``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataFormatError

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_UNREADABLE = (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError)
"""What Pillow raises for a file it cannot decode, including one over twice ``Image.MAX_IMAGE_PIXELS``."""


def flatten_alpha(img: Image.Image, background=(255, 255, 255)) -> Image.Image:
    """Composite an image with transparency onto a solid background; return RGB."""
    if img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        canvas = Image.new("RGBA", img.size, background + (255,))
        return Image.alpha_composite(canvas, img).convert("RGB")
    return img.convert("RGB")


def to_rgb8(img: Image.Image) -> np.ndarray:
    """A decoded PIL image as uint8 ``(H, W, 3)`` RGB (module docstring for each mode)."""
    if img.mode in _SIXTEEN_BIT or img.mode == "F":
        x = np.asarray(img, dtype=np.float64)
        x = np.rint(x / 257.0) if img.mode in _SIXTEEN_BIT else np.rint(x * 255.0)
        grey = np.clip(x, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(flatten_alpha(img), dtype=np.uint8)


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode encoded image bytes (PNG, JPEG, ...) as uint8 RGB; ``DataFormatError`` naming ``name`` otherwise."""
    import io

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return to_rgb8(img)
    except _UNREADABLE as e:
        raise DataFormatError(f"cannot read image {name}: {e}") from e


def read_rgb(path: str | os.PathLike, size: int | None = None) -> np.ndarray:
    """Read one image file as uint8 ``(H, W, 3)``, resized to ``size``×``size`` (bicubic) when given.

    Raises `DataFormatError` naming the file when it is missing, unreadable, truncated or too large for Pillow
    (a decompression bomb).
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            rgb = to_rgb8(img)
    except _UNREADABLE as e:
        raise DataFormatError(f"cannot read image {path}: {e}") from e
    if size is not None and rgb.shape[:2] != (size, size):
        rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC))
    return rgb


def read_images(paths, size: int | None = None) -> np.ndarray:
    """Read many image files into one uint8 array ``(N, size, size, 3)``; all must share a size if ``size`` is None."""
    arrays = [read_rgb(p, size) for p in paths]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"images differ in size {sorted(shapes)}; pass size= to resize them")
    return np.stack(arrays) if arrays else np.zeros((0, size or 0, size or 0, 3), np.uint8)
