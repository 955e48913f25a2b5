"""How a notebook records its key numbers and figures for the report.

Inside a notebook run by `vlr_viz.report`, the runner sets

* ``VLR_VIZ_METRICS_PATH``: the JSON file next to the executed notebook, holding
  ``{"metrics": {name: value}, "figures": {name: {"html": path, "png": path | null, "title": text | null}}}``;
* ``VLR_VIZ_FIGURES_DIR``: the figures folder; `record_figure` writes ``<name>.html`` (and ``<name>.png``) in its
  subfolder ``$VLR_VIZ_NOTEBOOK`` (the notebook's name) and one shared ``plotly.min.js`` at its root;
* ``VLR_VIZ_FIGURE_PNG``: ``"0"`` to skip PNG export, ``"1"`` to require it, unset to export when a browser exists.

Without them (interactive use) the numbers stay in memory only, in `METRICS` and `FIGURES`. Every write of the
JSON file is atomic (`vlr_viz.atomic.atomic_write_bytes`).

PNG export: `vlr_viz.viz.export` (kaleido driving a Chrome/Chromium).
"""
from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_bytes

METRICS_PATH_ENV = "VLR_VIZ_METRICS_PATH"
FIGURES_DIR_ENV = "VLR_VIZ_FIGURES_DIR"
FIGURE_PNG_ENV = "VLR_VIZ_FIGURE_PNG"
NOTEBOOK_ENV = "VLR_VIZ_NOTEBOOK"

METRICS: dict[str, Any] = {}
"""Every value recorded in this process, by name (also when no metrics file is set)."""
FIGURES: dict[str, dict[str, str | None]] = {}
"""Every figure recorded in this process: ``{name: {"html": path | None, "png": path | None, "title": caption}}``."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{what} name {name!r} must be a non-empty string of letters, digits, '_', '.', '-'")
    return name


def to_json_value(value: Any, name: str = "value") -> Any:
    """``value`` as plain JSON types: numpy scalars/arrays and tuples become numbers and lists.

    Raises ``TypeError`` naming ``name`` for anything else (objects, tensors, sets).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"metric {name!r}: key {k!r} must be a string")
            out[k] = to_json_value(v, f"{name}.{k}")
        return out
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:  # 0-d tensor
        return to_json_value(value.item(), name)
    raise TypeError(f"metric {name!r}: cannot record a {type(value).__name__}; use numbers, strings, lists, dicts")


def _empty_log() -> dict[str, dict]:
    return {"metrics": {}, "figures": {}}


def read_log(path: str | os.PathLike) -> dict[str, dict]:
    """The whole metrics file: ``{"metrics": {...}, "figures": {...}}`` (empty parts when the file is absent)."""
    path = Path(path)
    if not path.exists():
        return _empty_log()
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"metrics file {path} is unreadable: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("metrics", {}), dict):
        raise ValueError(f"metrics file {path} does not hold a 'metrics' mapping")
    log = _empty_log()
    log.update({k: v for k, v in data.items() if k in log})
    return log


def read_metrics(path: str | os.PathLike) -> dict[str, Any]:
    """The recorded ``{name: value}`` of a metrics file."""
    return read_log(path)["metrics"]


def read_figures(path: str | os.PathLike) -> dict[str, dict[str, str | None]]:
    """The recorded ``{name: {"html": path, "png": path | None, "title": str | None}}`` of a metrics file."""
    return read_log(path)["figures"]


def _update_log(part: str, name: str, entry: Any) -> None:
    path = os.environ.get(METRICS_PATH_ENV)
    if not path:
        return
    log = read_log(path)
    log[part][name] = entry
    atomic_write_bytes(path, json.dumps(log, indent=1, sort_keys=False).encode())


def record(name: str, value: Any) -> Any:
    """Record a key number (or a dict / list of them) under ``name``; a second call with the same name replaces it.

    Writes it to ``$VLR_VIZ_METRICS_PATH`` when set and keeps it in `METRICS`. Returns the JSON form of ``value``.
    """
    _check_name(name, "metric")
    value = to_json_value(value, name)
    METRICS[name] = value
    _update_log("metrics", name, value)
    return value


def _png_wanted() -> bool:
    flag = os.environ.get(FIGURE_PNG_ENV, "").strip()
    if flag == "0":
        return False
    if flag == "1":
        return True
    from ..viz.export import find_browser  # here: the report process reads metrics without loading the figure code

    return find_browser() is not None


PLOTLYJS_NAME = "plotly.min.js"


def write_plotlyjs(folder: str | os.PathLike) -> Path:
    """``folder/plotly.min.js``, the installed plotly package's plotly.js, written (atomically) unless the same
    bytes are already there; its path. Every page of a report loads this one copy, so it works offline."""
    from plotly.offline import get_plotlyjs

    js_path = Path(folder) / PLOTLYJS_NAME
    js = get_plotlyjs().encode()
    if not js_path.is_file() or js_path.stat().st_size != len(js) or js_path.read_bytes() != js:
        atomic_write_bytes(js_path, js)
    return js_path


def _plotlyjs_reference(figures_dir: Path, html_dir: Path) -> str:
    """Write ``plotly.min.js`` once at the root of the figures folder; return its path relative to ``html_dir``."""
    return os.path.relpath(write_plotlyjs(figures_dir), html_dir).replace(os.sep, "/")


def figure_title(fig) -> str | None:
    """The first line of a figure's title as plain text (tags such as ``<br>`` and ``<sup>`` removed)."""
    text = fig.layout.title.text if fig.layout.title is not None else None
    if not text:
        return None
    first = re.split(r"<br\s*/?>", str(text), maxsplit=1)[0]
    return re.sub(r"<[^>]+>", "", first).strip() or None


def record_figure(name: str, fig, figures_dir: str | os.PathLike | None = None, display: bool = True,
                  width: int | None = None, height: int | None = None):
    """Save a plotly figure as ``<name>.html`` (always) and ``<name>.png`` (when a browser is present), show it.

    The entry recorded for the report holds both paths and the first line of the figure's title (its caption).

    The folder is ``figures_dir`` when given, else ``$VLR_VIZ_FIGURES_DIR/$VLR_VIZ_NOTEBOOK`` (set by the report
    runner); with neither, nothing is written. The HTML loads one shared ``plotly.min.js`` from the figures root
    (works offline). The PNG has the figure's own width and height (or ``width`` / ``height``); it is cached by the
    figure's content (`vlr_viz.store.figures.stored_png`), so a report run again starts no browser. In a notebook the
    figure is displayed inline as a responsive snapshot (`vlr_viz.notebook.display.display_figure`; ``display=False``
    to skip) and returned: when the call is a cell's last line, end it with ``;`` or assign the result, or the
    figure shows twice.
    """
    _check_name(name, "figure")
    if not hasattr(fig, "to_html") or not hasattr(fig, "to_image"):
        raise TypeError(f"figure {name!r}: expected a plotly Figure, got {type(fig).__name__}")
    if figures_dir is not None:
        js_root = folder = Path(figures_dir)
    elif os.environ.get(FIGURES_DIR_ENV):
        js_root = Path(os.environ[FIGURES_DIR_ENV])
        folder = js_root / os.environ[NOTEBOOK_ENV] if os.environ.get(NOTEBOOK_ENV) else js_root
    else:
        js_root = folder = None
    entry: dict[str, str | None] = {"html": None, "png": None, "title": figure_title(fig)}
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        html_path = folder / f"{name}.html"
        html = fig.to_html(include_plotlyjs=_plotlyjs_reference(js_root, folder), full_html=True)
        atomic_write_bytes(html_path, html.encode())
        entry["html"] = str(html_path.resolve())
        if _png_wanted():
            png_path = folder / f"{name}.png"
            try:
                from ..viz.export import figure_png_bytes

                atomic_write_bytes(png_path, figure_png_bytes(fig, width=width, height=height, cached=True))
                entry["png"] = str(png_path.resolve())
            except Exception as e:  # noqa: BLE001 - PNG is optional unless required below
                if os.environ.get(FIGURE_PNG_ENV) == "1":
                    raise
                warnings.warn(f"figure {name!r}: PNG export failed ({type(e).__name__}: {e}); HTML only",
                              stacklevel=2)
    FIGURES[name] = entry
    _update_log("figures", name, entry)
    if display:
        from .display import display_figure

        display_figure(fig)
    return fig
