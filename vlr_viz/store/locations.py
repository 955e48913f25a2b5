"""Where the store lies on disk: the cache folder (arrays, figures) and the run store inside it."""
from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$VLR_VIZ_CACHE``, else ``data/cache`` of the source checkout, else ``~/.cache/vlr_viz``."""
    if os.environ.get("VLR_VIZ_CACHE"):
        return Path(os.environ["VLR_VIZ_CACHE"])
    checkout_data = Path(__file__).resolve().parents[2] / "data"
    if (checkout_data / "README.md").exists():
        return checkout_data / "cache"
    return Path.home() / ".cache" / "vlr_viz"


def default_store_dir() -> Path:
    """The run store and what is computed from runs (`vlr_viz.store.runs`): ``$VLR_VIZ_RUN_STORE`` when set, else
    ``runs/`` in the cache directory (`default_cache_dir`)."""
    return Path(os.environ["VLR_VIZ_RUN_STORE"]) if os.environ.get("VLR_VIZ_RUN_STORE") else \
        default_cache_dir() / "runs"
