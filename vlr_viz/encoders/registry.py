"""Pick an encoder by name.

Names: ``efficientnet-lite0`` (default vision teacher), ``efficientnet-lite2``, ``minilm-l6`` (default text
teacher), ``open_clip:<arch>`` (with ``checkpoint=``) or ``open_clip:local-dir:<folder>``, ``hf-clip:<folder>``.
Loaded encoders are kept for the process (loading weights takes seconds).
"""
from __future__ import annotations

from .base import Encoder

KNOWN = ("efficientnet-lite0", "efficientnet-lite2", "minilm-l6", "open_clip:<arch>", "hf-clip:<folder>")
DEFAULT_IMAGE_ENCODER = "efficientnet-lite0"
DEFAULT_TEXT_ENCODER = "minilm-l6"

_loaded: dict[tuple, Encoder] = {}


def get_encoder(name: str, **kwargs) -> Encoder:
    """Return the encoder called ``name`` (kwargs: ``image_size``, ``checkpoint``, ``model_config``, ...)."""
    if not isinstance(name, str):
        raise ValueError(f"encoder name must be a string, got {name!r}")
    key = (name, tuple(sorted(kwargs.items())))
    if key in _loaded:
        return _loaded[key]
    if name in ("efficientnet-lite0", "efficientnet-lite2"):
        from .efficientnet import EfficientNetLite

        enc = EfficientNetLite(name, **kwargs)
    elif name == "minilm-l6":
        from .minilm import MiniLM

        enc = MiniLM(**kwargs)
    elif name.startswith("open_clip:"):
        from .open_clip_encoder import OpenCLIPEncoder

        enc = OpenCLIPEncoder(name.split(":", 1)[1], **kwargs)
    elif name.startswith("hf-clip:"):
        from .hf_clip import HFCLIPEncoder

        enc = HFCLIPEncoder(name.split(":", 1)[1], **kwargs)
    else:
        raise ValueError(f"unknown encoder {name!r}; known encoders: {', '.join(KNOWN)}")
    _loaded[key] = enc
    return enc
