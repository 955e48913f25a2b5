"""Images as base64 PNG data URIs, for plotly layout images (plotly hover text cannot show images)."""
from __future__ import annotations

import base64
import io

import numpy as np


def png_data_uri(image, size: int | None = None) -> str:
    """``"data:image/png;base64,..."`` of one uint8 image ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``.

    ``size``: resize (Lanczos) so the longer side is ``size`` pixels; ``None`` keeps the original size.
    """
    from PIL import Image

    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise TypeError(f"image must be uint8; got {img.dtype}")
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)) or 0 in img.shape:
        raise ValueError(f"image must have shape (H, W), (H, W, 3) or (H, W, 4); got {img.shape}")
    pil = Image.fromarray(np.ascontiguousarray(img))
    if size is not None:
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"size must be a positive integer; got {size!r}")
        scale = size / max(pil.size)
        pil = pil.resize((max(1, round(pil.size[0] * scale)), max(1, round(pil.size[1] * scale))),
                         Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail_uris(images, indices=None, size: int | None = 32) -> list[str]:
    """Data URIs of ``images[indices]`` (all images when ``indices`` is ``None``), each at most ``size`` pixels.

    ``images``: a uint8 stack or an `~vlr_viz.data.ImageSource` (only the chosen images are read)."""
    from vlr_viz.data.sources import ImageSource

    if isinstance(images, ImageSource):
        idx = np.arange(len(images)) if indices is None else np.asarray(indices, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= len(images)):
            raise ValueError(f"indices must lie in [0, {len(images)}); got min {idx.min()}, max {idx.max()}")
        return [png_data_uri(images.read(int(i)), size=size) for i in idx]
    imgs = np.asarray(images)
    if imgs.ndim not in (3, 4):
        raise ValueError(f"images must be a stack (N, H, W[, C]); got shape {imgs.shape}")
    idx = np.arange(imgs.shape[0]) if indices is None else np.asarray(indices, dtype=np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= imgs.shape[0]):
        raise ValueError(f"indices must lie in [0, {imgs.shape[0]}); got min {idx.min()}, max {idx.max()}")
    return [png_data_uri(imgs[i], size=size) for i in idx]


def decode_data_uri(uri: str) -> np.ndarray:
    """The uint8 pixels of a PNG data URI made by `png_data_uri` (inverse, for checks)."""
    from PIL import Image

    prefix = "data:image/png;base64,"
    if not isinstance(uri, str) or not uri.startswith(prefix):
        raise ValueError("uri must be a PNG data URI starting with 'data:image/png;base64,'")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri[len(prefix):]))))
