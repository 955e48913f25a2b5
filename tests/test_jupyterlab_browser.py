"""Notebook 05 live in JupyterLab, in headless Chromium: run every cell, move a slider with the keyboard, and check
that the metrics and the figures follow, that no output is an error or a stderr warning, that after a page
reload on the running kernel the figures still show the current state, and that the saved notebook reopened
without its kernel draws the explorer as it was saved."""
from __future__ import annotations

import json
import os
import re
import secrets
import sys
from pathlib import Path

import nbformat
import pytest

from browser_servers import (CLIPPED_FIGURE_TEXTS, browser, descendants,  # noqa: F401 (browser: fixture)
                             free_port, leftover_processes, running_server, wait_for_http)
from vlr_viz.report import plan_report, python_kernel

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
RUN_TIMEOUT_MS = 900_000  # a cold feature cache encodes every degradation level of the fast preset first
SMALL = {"structure_weights": [0.0, 2.0], "sweep_text_severities": [0.0], "sweep_structure_weights": [2.0]}

KERNEL_IDLE = "() => { const w = window.jupyterapp && jupyterapp.shell.currentWidget; " \
              "const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel; " \
              "return !!k && k.status === 'idle'; }"
ALL_CELLS_RAN = """() => {
    const w = jupyterapp.shell.currentWidget, k = w.sessionContext.session.kernel;
    const code = w.content.widgets.filter(c => c.model.type === 'code');
    return k.status === 'idle' && code.length > 0 && code.every(c => c.model.executionCount !== null);
}"""
OUTPUTS = """() => jupyterapp.shell.currentWidget.content.widgets.filter(c => c.model.type === 'code')
    .map(c => c.model.outputs.toJSON())"""
SLIDER = "structure weight"


def _problems(outputs: list[list[dict]]) -> list[str]:
    """Every error output and stderr stream, as text."""
    found = []
    for i, cell in enumerate(outputs):
        for o in cell:
            if o.get("output_type") == "error":
                found.append(f"cell {i}: {o.get('ename')}: {o.get('evalue')}")
            elif o.get("output_type") == "stream" and o.get("name") == "stderr":
                found.append(f"cell {i}: stderr: {''.join(o.get('text', ''))[:500]}")
    return found


def _explorer_state(page) -> dict:
    """The explorer's metrics text and every text drawn in its figures."""
    return page.evaluate("""() => {
        const box = document.querySelector('.vlr-explorer-metrics').closest('.widget-vbox');
        return {metrics: box.querySelector('.vlr-explorer-metrics').innerText,
                figures: [...box.querySelectorAll('.js-plotly-plot text')].map(e => e.textContent)};
    }""")


EXPLORER_DRAWN = ("[...document.querySelectorAll('.widget-vbox .js-plotly-plot text')].some("
                  "e => e.textContent.includes('structure weight 0'))")


def _reload(page) -> None:
    """Reload the page and wait until its notebook's kernel is idle and the explorer's figures are drawn."""
    page.reload(timeout=120_000)
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)
    page.wait_for_function(EXPLORER_DRAWN, timeout=120_000)


def _widget_errors(page) -> list[str]:
    """The outputs that show a widget error (e.g. "Error displaying widget: model not found")."""
    return page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.innerText)"
                         ".filter(t => t.includes('Error displaying widget'))")


def _parameterised_notebook(path: Path, kernel: str) -> None:
    """Notebook 05 with the fast preset and a one-state sweep, parameters injected as papermill does."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    plan = plan_report("fast", SMALL, NOTEBOOKS, only=["05"])[0]
    nb = parameterize_notebook(load_notebook_node(str(plan.path)), plan.parameters)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python (vlr_viz)", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.mark.browser
def test_notebook_05_live_in_jupyterlab(browser, tmp_path):  # noqa: F811
    root = tmp_path / "lab"
    root.mkdir()
    port, token = free_port(), secrets.token_hex(16)
    with python_kernel() as kernel:
        _parameterised_notebook(root / "explorer.ipynb", kernel)
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
               "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
               "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.port_retries=0",
                   "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                   "--ServerApp.allow_root=True", "--LabApp.expose_app_in_browser=True",
                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                   "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False"]
        # every cell attached and drawn wherever it is scrolled (JupyterLab's default skips drawing offscreen
        # cells), so that what the test reads does not depend on the scroll position a reload restores
        settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True)
        (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        log = tmp_path / "lab.log"
        with running_server(command, log, env=env, cwd=root) as server:
            wait_for_http(f"http://127.0.0.1:{port}/api/status?token={token}", server, log, timeout=180)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/explorer.ipynb?token={token}", timeout=120_000)
            page.wait_for_function(KERNEL_IDLE, timeout=180_000)
            page.evaluate("jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function(ALL_CELLS_RAN, timeout=RUN_TIMEOUT_MS, polling=1000)
            assert _problems(page.evaluate(OUTPUTS)) == []
            pids = [server.pid] + descendants(server.pid)  # the server and the notebook's kernel

            weight = page.locator(".widget-slider", has=page.locator("label", has_text=SLIDER)).first
            weight.locator(".noUi-handle").wait_for(timeout=60_000)
            # the widgets draw after the kernel sends their state: on a loaded two-core machine that can take minutes
            page.wait_for_function("document.querySelectorAll('.widget-vbox .js-plotly-plot .heatmaplayer image')"
                                   ".length >= 6", timeout=180_000)
            before = _explorer_state(page)
            assert "structure weight 2" in before["metrics"]
            assert page.evaluate(CLIPPED_FIGURE_TEXTS) == []  # titles, subtitles and legends whole at 1600×1000
            weight.locator(".noUi-handle").focus()
            page.keyboard.press("ArrowLeft")  # 2 -> 0, by keyboard as a user would
            page.wait_for_function("[...document.querySelectorAll('.widget-vbox .js-plotly-plot text')].some("
                                   "e => e.textContent.includes('structure weight 0'))", timeout=120_000)
            page.wait_for_function("document.querySelector('.vlr-explorer-metrics').innerText"
                                   ".includes('structure weight 0')", timeout=30_000)
            after = _explorer_state(page)
            rsum = [float(re.search(r"rsum\s+([0-9.]+)", s["metrics"]).group(1)) for s in (before, after)]
            assert rsum[0] != rsum[1]  # retrained without the structure term
            lam = [next(t for t in s["figures"] if "λ =" in t) for s in (before, after)]
            assert after["figures"] != before["figures"], lam
            assert _problems(page.evaluate(OUTPUTS)) == []
            # the still relations figure below the explorer says it shows the first state, which it still does
            still = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')]"
                                  ".filter(gd => !gd.closest('.widget-vbox'))"
                                  ".map(gd => [...gd.querySelectorAll('.infolayer .gtitle')].map(t => t.textContent))")
            assert [t for titles in still for t in titles if "first state" in t and "structure weight 2" in t], still

            # a reload on the running kernel rebuilds every view from the widgets' state: the current one
            page.evaluate("jupyterapp.commands.execute('docmanager:save')")
            _reload(page)
            page.wait_for_function("text => [...document.querySelectorAll('.widget-vbox .js-plotly-plot text')]"
                                   ".some(e => e.textContent.includes(text))", arg=lam[1], timeout=60_000)
            reloaded = _explorer_state(page)  # both figures drawn again from the widgets' state
            assert "structure weight 0" in reloaded["metrics"] and lam[1] in reloaded["figures"]
            readout = page.locator(".widget-slider", has=page.locator("label", has_text=SLIDER)).first
            assert readout.locator(".widget-readout").inner_text().strip() == "0.0"

            # the saved notebook holds the widgets' state (vlr_viz's JupyterLab settings), small: reopened after its
            # kernel is gone, it draws the explorer as it was saved, not "Error displaying widget: model not found"
            saved = json.loads((root / "explorer.ipynb").read_text())
            state = saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
            assert len(json.dumps(state)) < 2_000_000
            page.evaluate("jupyterapp.commands.execute('kernelmenu:shutdown')")
            page.wait_for_function("() => !jupyterapp.shell.currentWidget.sessionContext.session", timeout=60_000)
            _reload(page)  # a new kernel, with no widgets in it
            saved_view = _explorer_state(page)
            assert "structure weight 0" in saved_view["metrics"] and lam[1] in saved_view["figures"]
            assert _widget_errors(page) == []
            page.close()
    assert not leftover_processes(pids), log.read_text()[-2000:]
