"""Figures read back instead of rendered: `stored_png` keeps the PNG of a plotly figure at a size, keyed by its
content, as ``<cache dir>/figures/<key>.png`` (written atomically; one that is not a whole PNG is rendered again), so
that a report run again starts no browser."""
from __future__ import annotations

import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Callable

from ..atomic import atomic_write_bytes
from ..keys import content_hash
from .locations import default_cache_dir

PNG_SIGNATURE, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"


def png_cache_path(fig, width: int | None, height: int | None, scale: float, cache_dir=None) -> Path:
    """Where `stored_png` keeps the PNG of ``fig`` at this size: ``<cache dir>/figures/<key>.png``, keyed by the
    figure's JSON, the size and the plotly and kaleido versions."""
    key = content_hash("figure-png", fig.to_json(), width, height, float(scale), version("plotly"), version("kaleido"))
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / "figures" / f"{key}.png"


def stored_png(fig, width: int | None, height: int | None, scale: float,
               render: Callable[..., bytes]) -> bytes:
    """The stored PNG of ``fig`` at this size when there is a whole one, else ``render(fig, width, height, scale)``,
    stored (a folder that cannot be written is reported and left alone) and returned."""
    path = png_cache_path(fig, width, height, scale)
    try:
        data = path.read_bytes()
        if data.startswith(PNG_SIGNATURE) and data.endswith(PNG_END):
            return data
    except OSError:
        pass
    data = render(fig, width, height, scale)
    try:
        atomic_write_bytes(path, data)
    except OSError as e:
        warnings.warn(f"the PNG could not be cached at {path} ({e})", stacklevel=3)
    return data
