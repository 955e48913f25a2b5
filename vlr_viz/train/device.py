"""The torch device of a run: ``"auto"`` (CUDA when available, else the CPU), ``"cpu"`` or ``"cuda"``."""
from __future__ import annotations

import torch

from ..errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``torch.device`` for ``name``; `ConfigError` when ``"cuda"`` is asked for and CUDA cannot be used here
    (a torch built without CUDA, or no GPU visible), saying which and what to use instead."""
    if name not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; choose one of 'auto', 'cpu', 'cuda'")
    if name == "cuda" and not torch.cuda.is_available():
        why = (f"this torch build ({torch.__version__}) has no CUDA support" if torch.version.cuda is None
               else "no CUDA GPU is visible (check CUDA_VISIBLE_DEVICES and the driver)")
        raise ConfigError(f"device 'cuda' was asked for but {why}; use --device cpu or --device auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)
