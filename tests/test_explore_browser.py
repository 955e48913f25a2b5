"""``vlr-viz explore`` in headless Chromium: the served page shows the explorer, a slider retrains, the token is
required, and stopping the command leaves no process behind. The test also takes the README's screenshot
(``VLR_VIZ_UPDATE_SCREENSHOTS=1`` writes it to figures/explore/explorer.png)."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
import urllib.request
from pathlib import Path

import pytest

from browser_servers import (CLIPPED_FIGURE_TEXTS, browser, descendants,  # noqa: F401 (browser: fixture)
                             free_port, leftover_processes, running_server, wait_for_http)

SCREENSHOT = Path(__file__).resolve().parents[1] / "figures" / "explore" / "explorer.png"
PAGE_TIMEOUT_MS = 600_000  # a cold feature cache encodes every degradation level on the first visit
PLOTS_DRAWN = """() => {  // both figures drawn, heatmaps and points included, and no redraw pending
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    return plots.length >= 2 && document.querySelectorAll('.js-plotly-plot .heatmaplayer image').length >= 6 &&
        plots.every(gd => gd._fullLayout && gd._fullData && !(gd._promises && gd._promises.length));
}"""


def _metrics_text(page) -> str:
    return page.locator(".vlr-explorer-metrics").first.inner_text()


@pytest.mark.browser
def test_vlr_viz_explore_serves_a_working_explorer(browser, tmp_path):  # noqa: F811
    port, token = free_port(), secrets.token_hex(8)
    command = [sys.executable, "-m", "vlr_viz.cli", "explore", "--preset", "fast", "--port", str(port),
               "--token", token, "-p", "structure_weights", "[0.0, 2.0]"]
    log = tmp_path / "explore.log"
    with running_server(command, log, env=dict(os.environ), cwd=Path(__file__).resolve().parents[1]) as server:
        wait_for_http(f"http://127.0.0.1:{port}/voila/static/none", server, log, timeout=180)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as anonymous:
            assert "/login" in anonymous.url  # no token: sent to the login page (no kernel started)

        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        outside = []
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(f"http://127.0.0.1:{port}/") or
                r.url.startswith(("data:", "blob:")) else outside.append(r.url))
        page.goto(f"http://127.0.0.1:{port}/?token={token}", timeout=PAGE_TIMEOUT_MS, wait_until="domcontentloaded")
        weight = page.locator(".widget-slider", has=page.locator("label", has_text="structure weight"))
        weight.locator(".noUi-handle").wait_for(timeout=PAGE_TIMEOUT_MS)
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
        page.wait_for_function(PLOTS_DRAWN, timeout=60_000)
        before = _metrics_text(page)
        assert "structure weight 2" in before and re.search(r"rsum\s+[0-9.]+", before)
        assert page.evaluate(CLIPPED_FIGURE_TEXTS) == []  # titles, subtitles and legends whole at 1600×1000
        pids = [server.pid] + descendants(server.pid)  # the CLI, Voilà and the page's kernel

        shot = tmp_path / "explorer.png"
        page.screenshot(path=str(shot))
        if os.environ.get("VLR_VIZ_UPDATE_SCREENSHOTS") == "1":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, SCREENSHOT)

        weight.locator(".noUi-handle").focus()
        page.keyboard.press("ArrowLeft")  # 2 -> 0: no structure term
        page.wait_for_function("[...document.querySelectorAll('.vlr-explorer-metrics')].some("
                               "e => e.innerText.includes('structure weight 0'))", timeout=120_000)
        after = _metrics_text(page)
        rsum = [float(re.search(r"rsum\s+([0-9.]+)", t).group(1)) for t in (before, after)]
        assert rsum[0] != rsum[1], (before, after)  # the student was retrained without the structure term
        page.wait_for_function("[...document.querySelectorAll('.js-plotly-plot text')].some("
                               "e => e.textContent.includes('structure weight 0'))", timeout=30_000)  # the figure
        assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
        page.close()
    assert not leftover_processes(pids), open(log).read()[-2000:]
    assert not errors, errors
    # nothing is fetched from elsewhere but the icon font Voilà's page template links (unused here; offline it
    # fails without consequence)
    assert not [u for u in outside if "fontawesome" not in u], outside


VISITS = 5


def _tree_rss(server_pid: int) -> int:
    """Resident bytes of the server and every process under it."""
    import psutil

    total = 0
    for pid in [server_pid, *descendants(server_pid)]:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _kernels(server_pid: int) -> list[int]:
    """The kernel processes the server started (its descendants running ``ipykernel_launcher``)."""
    import psutil

    found = []
    for pid in descendants(server_pid):
        try:
            if "ipykernel_launcher" in " ".join(psutil.Process(pid).cmdline()):
                found.append(pid)
        except psutil.Error:
            pass
    return found


@pytest.mark.browser
def test_each_visit_of_the_explorer_gives_its_kernel_back(browser, tmp_path):  # noqa: F811
    """Visits (a first load, then reloads) and the page left: the server holds no more kernels than before within
    a minute, each page's kernel shut down when the page unloads (Voilà's shutdown request is accepted). A small
    student (one stage-2 epoch, 32 hidden units) keeps each visit's kernel light."""
    import time

    port, token = free_port(), secrets.token_hex(8)
    command = [sys.executable, "-m", "vlr_viz.cli", "explore", "--preset", "fast", "--port", str(port),
               "--token", token, "-p", "structure_weights", "[0.0, 2.0]", "-p", "epochs_stage2", "1",
               "-p", "hidden", "32"]
    log = tmp_path / "explore.log"
    with running_server(command, log, env=dict(os.environ), cwd=Path(__file__).resolve().parents[1]) as server:
        wait_for_http(f"http://127.0.0.1:{port}/voila/static/none", server, log, timeout=180)
        baseline, baseline_rss = len(_kernels(server.pid)), _tree_rss(server.pid)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        held = []
        for visit in range(VISITS):
            if visit == 0:
                page.goto(f"http://127.0.0.1:{port}/?token={token}", timeout=PAGE_TIMEOUT_MS,
                          wait_until="domcontentloaded")
            else:
                page.reload(timeout=PAGE_TIMEOUT_MS, wait_until="domcontentloaded")
            page.locator(".widget-slider .noUi-handle").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            held.append(len(_kernels(server.pid)))
        page.goto("about:blank")  # leaving the page: it asks the server to shut its kernel down
        page.close()
        deadline = time.monotonic() + 60
        while len(_kernels(server.pid)) > baseline and time.monotonic() < deadline:
            time.sleep(1)
        left, left_rss = len(_kernels(server.pid)), _tree_rss(server.pid)
    text = log.read_text()
    events = [line for line in text.splitlines() if "Kernel" in line or "403" in line or "xsrf" in line]
    assert min(held) >= baseline + 1, held  # every visit ran on a kernel of this server
    assert left == baseline, (held, left, events)
    assert left_rss < baseline_rss + 300 * 2**20, (baseline_rss, left_rss)  # a kernel alone holds far more
    assert "_xsrf" not in text, events
