"""Reading image files into uint8 RGB arrays (alpha flattened onto white)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


def flatten_alpha(img: Image.Image, background=(255, 255, 255)) -> Image.Image:
    """Composite an image with transparency onto a solid background; return RGB."""
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        canvas = Image.new("RGBA", img.size, background + (255,))
        return Image.alpha_composite(canvas, img).convert("RGB")
    return img.convert("RGB")


def read_rgb(path: str | os.PathLike, size: int | None = None) -> np.ndarray:
    """Read one image file as uint8 ``(H, W, 3)``, resized to ``size``×``size`` when given.

    Raises ``ValueError`` naming the file when it is missing, unreadable or truncated.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            rgb = flatten_alpha(img)
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from e
    if size is not None and rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.BICUBIC)
    return np.asarray(rgb, dtype=np.uint8)


def read_images(paths, size: int | None = None) -> np.ndarray:
    """Read many image files into one uint8 array ``(N, size, size, 3)``; all must share a size if ``size`` is None."""
    arrays = [read_rgb(p, size) for p in paths]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"images differ in size {sorted(shapes)}; pass size= to resize them")
    return np.stack(arrays) if arrays else np.zeros((0, size or 0, size or 0, 3), np.uint8)
