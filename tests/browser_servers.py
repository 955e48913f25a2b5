"""Helpers of the real-browser tests: a free port, a server started in its own session and stopped with every
process it started (kernels included), Debian's Chromium driven by Playwright (never a downloaded browser)."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from test_report_browser import chromium_path


def free_port() -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until ``url`` answers (any HTTP status); fail with the server's log when it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with code {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"no answer from {url} after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def running_server(command: list[str], log: Path, env: dict | None = None, cwd: Path | None = None):
    """Start ``command`` (output to ``log``) in a new session; on exit stop it with SIGTERM (the servers shut
    their kernels down), then kill whatever of its process tree is still alive."""
    import psutil

    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                   start_new_session=True)
    tree = psutil.Process(process.pid)
    seen: dict[int, psutil.Process] = {}
    try:
        yield process
    finally:
        with contextlib.suppress(psutil.Error):
            seen.update({p.pid: p for p in tree.children(recursive=True)})
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        gone, alive = psutil.wait_procs(list(seen.values()), timeout=10)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(alive, timeout=10)


def leftover_processes(pids) -> list[int]:
    """Those of ``pids`` still running (zombies count as gone)."""
    import psutil

    out = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
    return out


def descendants(pid: int) -> list[int]:
    import psutil

    with contextlib.suppress(psutil.Error):
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    return []


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright (``executable_path``: nothing is downloaded)."""
    path = chromium_path()
    in_ci = os.environ.get("CI") == "true"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci:
            pytest.fail("CI=true but playwright is not installed (pip install -e '.[dev]')")
        pytest.skip("playwright is not installed")
    if path is None:
        if in_ci:
            pytest.fail("CI=true but no chromium: the browser tests must run in CI (apt-get install chromium)")
        pytest.skip("no chromium on this machine (install Debian's chromium to run the browser tests)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


# Every title, subtitle, annotation and legend entry of the page's plotly figures that is not wholly visible: out
# of its figure's box, out of an element between it and its cell that clips (overflow other than visible: an output
# area, a widget box; the notebook's own scrolling is not clipping), or, for a legend entry, out of its legend's box
# (plotly scrolls a legend taller than its figure).
CLIPPED_FIGURE_TEXTS = """() => {
    const inside = (r, box) => r.left >= box.left - 1 && r.right <= box.right + 1 &&
                               r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
    const clipped = [];
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
        const boxes = [gd.getBoundingClientRect()];
        for (let e = gd.parentElement; e && !e.matches('.jp-Cell, body'); e = e.parentElement) {
            const style = getComputedStyle(e);
            if (style.overflowX !== 'visible' || style.overflowY !== 'visible') boxes.push(e.getBoundingClientRect());
        }
        for (const t of gd.querySelectorAll('.infolayer .gtitle, .infolayer .annotation-text, .legend .legendtext')) {
            const r = t.getBoundingClientRect();
            if (r.width === 0 || !t.textContent.trim()) continue;
            const legend = t.closest('.legend');
            const own = legend ? [legend.querySelector('.bg').getBoundingClientRect()] : [];
            if (![...boxes, ...own].every(box => inside(r, box))) clipped.push(t.textContent);
        }
    }
    return clipped;
}"""
