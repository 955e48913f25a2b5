"""Static PNGs of plotly figures: one browser finder and one exporter for the whole package.

kaleido ≥ 1 renders through a Chrome/Chromium driven by choreographer, which honours the ``BROWSER_PATH``
environment variable: `find_browser` sets it when it is unset and a browser is found (Debian's ``chromium``
package, ``apt-get install chromium``). One kaleido server is kept per process, so only the first export is slow;
the report's PNGs are also cached by figure content (``figure_png_bytes(..., cached=True)``), so a report run again
starts no browser for the figures it drew before.
"""
from __future__ import annotations

import atexit
import os
import shutil
import warnings
from pathlib import Path

from vlr_viz.store.figures import stored_png

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
DEFAULT_BROWSER_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
_kaleido_server_started = False


def find_browser() -> str | None:
    """An executable Chrome/Chromium for kaleido: ``$BROWSER_PATH``, one on ``PATH``, or one of
    `DEFAULT_BROWSER_PATHS`; ``None`` if there is none. When found and ``BROWSER_PATH`` is unset, sets it."""
    env = os.environ.get("BROWSER_PATH")
    if env:
        return env if os.path.isfile(env) and os.access(env, os.X_OK) else None
    for path in [shutil.which(n) for n in BROWSER_NAMES] + list(DEFAULT_BROWSER_PATHS):
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            os.environ["BROWSER_PATH"] = path
            return path
    return None


def _stop_kaleido_server() -> None:
    import kaleido

    kaleido.stop_sync_server(silence_warnings=True)


def figure_png_bytes(fig, width: int | None = None, height: int | None = None, scale: float = 1.0,
                     cached: bool = False) -> bytes:
    """PNG bytes of a plotly figure; ``RuntimeError`` with the remedy when no browser can be started.

    ``cached``: keep the PNG in the store (`vlr_viz.store.figures.stored_png`) and read it back for the same figure
    and size, so that a report run again starts no browser (an entry that is not a whole PNG is rendered again)."""
    if not hasattr(fig, "to_image"):
        raise TypeError(f"fig must be a plotly Figure; got {type(fig).__name__}")
    if not scale > 0:
        raise ValueError(f"scale must be positive; got {scale!r}")
    if not cached:
        return _render_png(fig, width, height, scale)
    return stored_png(fig, width, height, scale, _render_png)


def _render_png(fig, width: int | None, height: int | None, scale: float) -> bytes:
    global _kaleido_server_started
    browser = find_browser()
    if browser is None:
        where = f"BROWSER_PATH={os.environ['BROWSER_PATH']!r} is not an executable" if os.environ.get(
            "BROWSER_PATH") else "no Chrome/Chromium was found"
        raise RuntimeError(f"PNG export needs Chrome or Chromium for kaleido ({where}): install Debian's `chromium` "
                           "(/usr/bin/chromium) or point BROWSER_PATH at a Chrome/Chromium executable")
    import kaleido

    for attempt in (1, 2):  # a busy machine can ask a fresh tab to render before kaleido's script has loaded
        try:
            if not _kaleido_server_started:
                kaleido.start_sync_server(silence_warnings=True)
                atexit.register(_stop_kaleido_server)
                _kaleido_server_started = True
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The kopts argument is ignored")
                return fig.to_image(format="png", width=width, height=height, scale=scale)
        except Exception as e:  # kaleido wraps browser start-up failures in several exception types
            if attempt == 2 or "is not defined" not in str(e):
                raise RuntimeError(f"kaleido could not render with the browser {browser!r}: {e}") from e


def save_png(fig, path, scale: float = 2, width: int | None = None, height: int | None = None) -> Path:
    """Write ``fig`` as a PNG (`figure_png_bytes`) atomically (temporary file + rename); return the path."""
    from vlr_viz.atomic import atomic_write_bytes

    data = figure_png_bytes(fig, width=width, height=height, scale=scale)
    path = Path(path)
    atomic_write_bytes(path, data)
    return path
