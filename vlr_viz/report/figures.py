"""The checkout's committed figures: ``figures/<notebook>/<name>.png`` next to ``notebooks/``, the PNGs the README
shows.

A report writes its figures into its own folder (``<out>/figures``) and nowhere else. The committed PNGs change
only through ``vlr-viz report --preset full --update-figures`` (``make figures``): a full report with every PNG
exported, whose PNGs are then copied over the committed ones, so they always show the full preset's numbers.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes
from ..errors import ConfigError

FIGURES_DIR = "figures"
UPDATE_PRESET = "full"


def committed_figures_dir(notebooks_dir: str | os.PathLike) -> Path:
    """``figures/`` of the checkout holding ``notebooks_dir`` (its parent folder)."""
    return Path(notebooks_dir).resolve().parent / FIGURES_DIR


def report_figures_dir(out_dir: Path, figures_dir: str | os.PathLike | None,
                       notebooks_dir: str | os.PathLike) -> Path:
    """Where a report writes its figures: ``figures_dir``, by default ``<out_dir>/figures``; never the committed
    ``figures/`` of the checkout (`ConfigError`)."""
    folder = (Path(out_dir) / FIGURES_DIR if figures_dir is None else Path(figures_dir)).resolve()
    if folder == committed_figures_dir(notebooks_dir):
        raise ConfigError(f"figures folder {folder} holds the committed figures: a report writes its own (default "
                          f"OUT/figures); replace them with vlr-viz report --preset {UPDATE_PRESET} --update-figures")
    return folder


def check_figures_update(preset: str, params: dict[str, dict[str, Any]], png: bool) -> None:
    """Refuse an update of the committed figures from anything but the full preset's own parameters with PNGs
    (``params``: the per-notebook ``-p`` values, `vlr_viz.report.params.parse_cli_parameters`)."""
    if preset != UPDATE_PRESET:
        raise ConfigError(f"--update-figures needs --preset {UPDATE_PRESET} (the committed figures show the full "
                          f"preset), got --preset {preset}")
    names = sorted({name for values in params.values() for name in values})
    if names:
        raise ConfigError("--update-figures takes no -p overrides (the committed figures show the full preset's "
                          f"own parameters), got -p {', '.join(names)}")
    if not png:
        raise ConfigError("--update-figures needs the PNG export: drop --no-png")


def update_committed_figures(runs, dest: str | os.PathLike) -> list[Path]:
    """Copy every recorded PNG of ``runs`` to ``dest/<notebook>/<figure>.png`` (atomically, only those whose bytes
    change); return the paths written."""
    missing = [f"{run.name}/{name}" for run in runs for name, e in run.figures.items() if not e.get("png")]
    if missing:
        raise ConfigError(f"figures without a PNG: {', '.join(missing)}; the committed figures are left as they were")
    written = []
    for run in runs:
        for name, entry in run.figures.items():
            data = Path(entry["png"]).read_bytes()
            target = Path(dest) / run.name / f"{name}.png"
            if not target.is_file() or target.read_bytes() != data:
                atomic_write_bytes(target, data)
                written.append(target)
    return written
