"""``vlr-viz explore --port / --ip``: checked before anything starts (a port out of range, one in use, an address
this machine cannot listen on: one line naming the option, exit code 2), and ``--port 0`` serves on a free port
that the printed address names."""
import re
import socket
import sys

import pytest

from vlr_viz.cli import main
from vlr_viz.report import explore


@pytest.fixture
def nothing_served(monkeypatch):
    """Makes serving fail: what is refused must be refused before the explorer starts."""
    monkeypatch.setattr(explore, "serve_explorer", lambda *a, **k: pytest.fail("the explorer was started"))


def refused(capsys, *args) -> str:
    """The one line ``vlr-viz explore ARGS`` prints, after checking that it exits with code 2."""
    assert main(["explore", "--preset", "fast", *args]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and captured.out == "", captured
    return err


@pytest.mark.parametrize("port", ["70000", "65536", "-1"])
def test_a_port_out_of_range_is_refused_naming_the_option(port, capsys, nothing_served):
    assert refused(capsys, "--port", port) == \
        f"vlr-viz: error: --port must be a port number 1-65535 (or 0: any free port), got {port}"


@pytest.mark.parametrize("ip", ["999.1.1.1", "192.0.2.1", "no-such-host.invalid"])  # 192.0.2.0/24: documentation
def test_an_address_this_machine_cannot_listen_on_is_refused_naming_the_option(ip, capsys, nothing_served):
    err = refused(capsys, "--ip", ip, "--port", "0")
    assert err.startswith(f"vlr-viz: error: --ip {ip!r} is not an address or host name this machine can listen on (")


@pytest.mark.parametrize("ip", ["127.0.0.1", "localhost", ""])
def test_a_port_in_use_is_refused_naming_it(ip, capsys, nothing_served):
    with socket.socket() as other:  # another server, listening
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        err = refused(capsys, "--ip", ip, "--port", str(port))
    assert re.fullmatch(rf"vlr-viz: error: --port {port} is in use on \S+ \(another server listens there\): choose "
                        r"another port, or --port 0 for a free one", err), err


@pytest.fixture
def served(monkeypatch):
    """Serving without Voilà: the command Voilà would get is recorded and a process that exits at once runs."""
    calls = []

    def command(notebook, port, ip="127.0.0.1", token="", open_browser=False):
        calls.append({"port": port, "ip": ip, "token": token})
        return [sys.executable, "-c", "pass"]

    monkeypatch.setattr(explore, "voila_command", command)
    return calls


@pytest.mark.parametrize("ip, host", [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")])
def test_port_zero_picks_a_free_port_and_prints_the_one_voila_gets(ip, host, served, capsys):
    if ip == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    assert main(["explore", "--preset", "fast", "--ip", ip, "--port", "0", "--token", "t0k"]) == 0
    (call,) = served
    assert call["port"] > 0 and call["ip"] == ip
    assert f"explorer     http://{host}:{call['port']}/?token=t0k" in capsys.readouterr().out
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as probe:
        probe.bind((ip, call["port"]))  # it was free: Voilà can listen there


def test_a_free_port_is_passed_on_as_asked(served, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["explore", "--preset", "fast", "--port", str(port), "--token", ""]) == 0
    assert served == [{"port": port, "ip": "127.0.0.1", "token": ""}]
    assert f"explorer     http://127.0.0.1:{port}/\n" in capsys.readouterr().out


@pytest.mark.browser
def test_port_zero_serves_where_the_printed_address_says(tmp_path):
    """The real command with Voilà: the printed address answers (the explorer's kernel starts only on a visit)."""
    import os
    import time
    from pathlib import Path

    from browser_servers import running_server, wait_for_http

    log = tmp_path / "explore.log"
    command = [sys.executable, "-m", "vlr_viz.cli", "explore", "--preset", "fast", "--port", "0", "--token", "t0k"]
    with running_server(command, log, env=dict(os.environ), cwd=Path(__file__).resolve().parents[1]) as server:
        deadline = time.monotonic() + 120
        while not (found := re.search(r"explorer     http://127\.0\.0\.1:(\d+)/\?token=t0k", log.read_text())):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        port = int(found.group(1))
        wait_for_http(f"http://127.0.0.1:{port}/voila/static/none", server, log, timeout=180)
        with socket.socket() as probe, pytest.raises(OSError):
            probe.bind(("127.0.0.1", port))  # taken: by the server the address names
