"""``vlr-viz explore``: the imbalance explorer as a web page for people who do not use notebooks.

The explorer of notebook 05 (`vlr_viz.widgets.build_explorer`) is written into a one-cell notebook with notebook
05's parameters (its defaults, a preset and ``-p`` overrides, validated like the report's) and served by Voilà,
which shows the cell's output (the sliders, the metrics and the figures) without code, on a kernel running this
interpreter. Everything is local: the teachers and the data come from installed packages, Voilà serves its own
scripts, and the server listens on 127.0.0.1 unless told otherwise.
"""
from __future__ import annotations

import argparse
import errno
import inspect
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ConfigError

EXPLORER_NOTEBOOK = "05_imbalance_explorer"
DEFAULT_PORT = 8866


def explorer_parameters(preset: str = "full", params: dict[str, Any] | None = None,
                        notebooks_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The keyword arguments of `vlr_viz.widgets.build_explorer` from notebook 05's parameters: its defaults,
    updated by ``preset`` and ``params`` and checked as the report checks them (`vlr_viz.report.plan_report`)."""
    from .plan import default_notebooks_dir, plan_report
    from ..widgets.app import build_explorer

    plan = plan_report(preset, params, notebooks_dir or default_notebooks_dir(), only=[EXPLORER_NOTEBOOK])[0]
    values = {**plan.defaults, **plan.parameters}
    return {k: values[k] for k in inspect.signature(build_explorer).parameters if k in values}


def explorer_notebook(parameters: dict[str, Any], kernel_name: str):
    """A notebook whose one code cell shows ``build_explorer(**parameters)`` (values written as literals)."""
    import nbformat

    arguments = ",\n    ".join(f"{k}={v!r}" for k, v in parameters.items())
    intro = nbformat.v4.new_markdown_cell(
        "## Imbalance explorer\n"
        "Weaken one modality, retrain the student on cached teacher features and watch cross-modal retrieval, each "
        "tower's single-modal strength, the fusion weight λ, the relation matrices and the common space respond. "
        "A control move retrains the small student towers (seconds on a CPU); states already visited are instant.")
    code = nbformat.v4.new_code_cell(
        "from vlr_viz.notebook.display import setup_notebook\n"
        "from vlr_viz.widgets import build_explorer\n\n"
        f"setup_notebook()\nbuild_explorer(\n    {arguments})")
    intro.id, code.id = "intro", "explorer"
    return nbformat.v4.new_notebook(cells=[intro, code], metadata={
        "kernelspec": {"name": kernel_name, "display_name": "Python (vlr_viz)", "language": "python"},
        "language_info": {"name": "python"}})


CULL_IDLE_SECONDS = 120
"""A kernel no page is connected to is shut down once idle this long (a page that closed without its shutdown
request: a crashed or killed tab, a lost connection)."""
CULL_INTERVAL_SECONDS = 30


def voila_config() -> dict[str, Any]:
    """Voilà's configuration (``voila.json`` in its working folder) that keeps one kernel per open page.

    * Voilà's page shuts its kernel down when it unloads by a POST to ``voila/api/shutdown/<kernel id>`` carrying
      the ``_xsrf`` value of its cookies; Voilà's own page never sets that cookie, so jupyter_server refuses the
      POST (``'_xsrf' argument missing from POST``) and every visit or reload leaves a kernel behind. The XSRF check
      is turned off (``disable_check_xsrf``): it guards requests that act on the visitor's behalf, and the only
      POST this server takes is that shutdown, addressed by the kernel's random id; kernels stay behind the token.
    * Idle kernels with no page connected are culled after `CULL_IDLE_SECONDS` (jupyter_server's
      ``MappingKernelManager.cull_*``), for pages that closed without sending the request.
    """
    return {"Voila": {"tornado_settings": {"disable_check_xsrf": True}},
            "MappingKernelManager": {"cull_idle_timeout": CULL_IDLE_SECONDS, "cull_interval": CULL_INTERVAL_SECONDS,
                                     "cull_connected": False, "cull_busy": False}}


def voila_command(notebook: Path, port: int, ip: str = "127.0.0.1", token: str = "",
                  open_browser: bool = False) -> list[str]:
    """The Voilà command line serving ``notebook`` on exactly ``port`` (light theme, no tracebacks shown to the
    page's visitors)."""
    return [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--Voila.port_retries=0",
            f"--Voila.ip={ip}", f"--Voila.open_browser={open_browser}", f"--token={token}", "--theme=light",
            "--show_tracebacks=False"]


def listen_address(ip: str, port: int) -> int:
    """The port the explorer will listen on at ``ip``, after checking that it can: ``port`` within 0-65535 (``0``:
    a free port picked here), ``ip`` an address or host name of this machine, and the port free on every address
    ``ip`` resolves to (probed as Tornado binds, with ``SO_REUSEADDR``); `ConfigError` naming ``--port`` or
    ``--ip`` otherwise, before anything is started."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"--port must be a port number 1-65535 (or 0: any free port), got {port!r}")
    try:
        addresses = {info[4][:2]: info[0] for info in
                     socket.getaddrinfo(ip or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)}
    except (socket.gaierror, UnicodeError) as e:
        raise ConfigError(f"--ip {ip!r} is not an address or host name this machine can listen on "
                          f"({getattr(e, 'strerror', None) or e})") from None
    for (host, _), family in addresses.items():
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise ConfigError(f"--port {port} is in use on {host} (another server listens there): choose "
                                      "another port, or --port 0 for a free one") from None
                if e.errno == errno.EADDRNOTAVAIL:
                    raise ConfigError(f"--ip {ip!r} is not an address or host name this machine can listen on "
                                      f"({e.strerror})") from None
                raise ConfigError(f"cannot listen on --ip {ip!r} --port {port}: {e.strerror}") from None
            port = port or probe.getsockname()[1]  # a free port, then probed on every further address
    return port


def serve_explorer(parameters: dict[str, Any], port: int = DEFAULT_PORT, ip: str = "127.0.0.1",
                   token: str | None = None, open_browser: bool = False) -> int:
    """Serve the explorer with Voilà until interrupted (Ctrl-C); return Voilà's exit code.

    ``token``: ``None`` makes a random one (printed in the address), ``""`` serves without one.
    """
    from .execute import python_kernel

    token = secrets.token_hex(16) if token is None else token
    with tempfile.TemporaryDirectory(prefix="vlr_viz_explore_") as tmp, python_kernel() as kernel:
        import nbformat

        notebook = Path(tmp) / "imbalance_explorer.ipynb"
        nbformat.write(explorer_notebook(parameters, kernel), notebook)
        (Path(tmp) / "voila.json").write_text(json.dumps(voila_config(), indent=1))  # read from the working folder
        host = f"[{ip}]" if ":" in ip else ip  # an IPv6 address in a URL
        address = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
        print(f"explorer     {address}", flush=True)
        print("             (first visit: the teachers encode every degradation level once, then it is cached; "
              "Ctrl-C stops the server)", flush=True)
        process = subprocess.Popen(voila_command(notebook, port, ip, token, open_browser), cwd=tmp)
        return _wait_forwarding_signals(process)


def _wait_forwarding_signals(process: subprocess.Popen, grace_seconds: float = 20.0) -> int:
    """Wait for ``process``; Ctrl-C (SIGINT) or SIGTERM here stop it the same way (Voilà then shuts its kernels
    down), and it is killed when it has not stopped ``grace_seconds`` later."""
    def forward(signum, frame):
        process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                process.send_signal(signal.SIGINT)
                try:
                    return process.wait(timeout=grace_seconds)
                except subprocess.TimeoutExpired:
                    process.kill()
    finally:
        signal.signal(signal.SIGTERM, previous)


def add_explore_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``explore`` to an argparse ``subparsers`` object; the parser's ``func`` is `cmd_explore`."""
    p = subparsers.add_parser("explore", help="serve the imbalance explorer as a web page (Voilà, offline)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="full", help="notebook 05 parameter preset: full (its defaults) or fast "
                                                    "(fewer degradation levels, shorter training)")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="override a parameter of notebook 05 (dataset, image_levels, text_levels, "
                        "structure_weights, epochs_stage2, ...); VALUE is a Python literal or plain text")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port to serve on (default {DEFAULT_PORT}; 0: any free port, printed in the address)")
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--token", default=None, help="access token (default: a random one, printed in the address; "
                                                 "'' for none)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.add_argument("--notebooks", default=None, help="folder holding 05_imbalance_explorer.ipynb (default: "
                                                     "notebooks/ here, else the source checkout's)")
    p.set_defaults(func=cmd_explore)
    return p


def cmd_explore(args) -> int:
    """Check the address and the parameters, then serve the explorer until Ctrl-C."""
    from .params import parse_cli_parameters
    from .plan import default_notebooks_dir

    port = listen_address(args.ip, args.port)
    notebooks = args.notebooks or default_notebooks_dir()
    overrides = parse_cli_parameters(args.param, notebooks, only=[EXPLORER_NOTEBOOK])
    parameters = explorer_parameters(args.preset, overrides, notebooks)
    return serve_explorer(parameters, port, args.ip, args.token, args.open)
