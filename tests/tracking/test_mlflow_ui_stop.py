"""``peaktrade mlflow ui`` stops its server and the server's workers on Ctrl-C (SIGINT), SIGTERM, SIGHUP
(terminal closed) and SIGQUIT.

The real CLI runs as a subprocess; the signal goes to the CLI process only (as systemd, ``kill`` or a
terminal's Ctrl-C to the foreground job would deliver it). One test serves the real MLflow UI on the
project's store (it answers HTTP 200 and knows the project's experiment) and stops it with SIGTERM. The four
signals are each checked on a stand-in server of the same shape (a leader process whose worker child holds
the port, as MLflow's server and its uvicorn worker), which starts in a fraction of a second instead of the
tens of seconds a real MLflow server takes on a loaded 2-core machine: what differs between the signals is
the CLI's handling, not the server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _running(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The processes still running (a zombie waiting for a reaper holds no port and runs nothing)."""
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _serve_and_stop(code: str, port: int, sig: signal.Signals,
                    check_ui: Callable[[bytes], None] | None = None) -> tuple[int, str, list[int], bool]:
    """Run the CLI (``python -c code``), wait for HTTP 200 on ``port``, send ``sig`` to the CLI only; return its
    exit code, its stdout, the pids of its server processes still running and whether the port is open."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)  # the server's log could fill a pipe
    descendants: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core machine needs over a minute for MLflow
        answered, body = False, b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=2) as resp:
                    answered, body = resp.status == 200, resp.read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        assert answered, f"the UI never answered on port {port} (exit code {proc.poll()})"
        if check_ui is not None:
            check_ui(body)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        assert len(descendants) >= 2, "expected the server and its worker(s) as children of the CLI"

        proc.send_signal(sig)  # to the CLI process only, not its group
        out, _ = proc.communicate(timeout=60)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _running(descendants):
            time.sleep(0.05)
        return proc.returncode, out, [p.pid for p in _running(descendants)], _port_open(port)
    finally:  # whatever failed, leave no server behind (its children are looked up again: the start may have failed)
        if proc.poll() is None:
            try:
                descendants += psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
            proc.kill()
            proc.wait(timeout=10)
        for p in descendants:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass


_CLI = "from peaktrade.cli.main import main; raise SystemExit(main(['mlflow', 'ui', '--port', '{port}']))"


def test_mlflow_ui_when_sigterm_then_the_real_server_stops_after_serving_the_project_store(tcfg):
    from peaktrade.tracking import tracked_run

    with tracked_run(config=tcfg, run_name="visible in the UI"):
        pass
    port = _free_port()

    def check_ui(body: bytes) -> None:  # the real MLflow UI, on loopback, on the store of the CLI's config
        assert b"<html" in body.lower()
        api = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=peaktrade-test"
        with urllib.request.urlopen(api, timeout=10) as resp:
            assert b"peaktrade-test" in resp.read()

    code, out, alive, port_open = _serve_and_stop(_CLI.format(port=port), port, signal.SIGTERM, check_ui)
    assert code == 0 and "MLflow UI stopped" in out, out
    assert not alive, f"server processes left: {alive}"
    assert not port_open, f"port {port} still open"


# The stand-in server: a leader that starts a worker serving HTTP 200 on the port, then waits for it.
_WORKER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"<html></html>")
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""
_LEADER = "import subprocess, sys; sys.exit(subprocess.call([sys.executable, '-c', sys.argv[1], sys.argv[2]]))"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT],
                         ids=["sigterm", "sigint", "sighup", "sigquit"])
def test_mlflow_ui_when_signalled_then_port_closes_and_no_server_process_is_left(tcfg, sig):
    port = _free_port()
    # the CLI as users run it, but ui_command (the server's command line) gives the stand-in server
    stand_in = [sys.executable, "-c", _LEADER, _WORKER, str(port)]
    cli = f"import peaktrade.tracking as t; t.ui_command = lambda cfg, **kw: ({stand_in!r}, 'x'); " + _CLI.format(
        port=port)
    code, out, alive, port_open = _serve_and_stop(cli, port, sig)
    assert code == 0 and "MLflow UI stopped" in out, out
    assert not alive, f"server processes left after {sig.name}: {alive}"
    assert not port_open, f"port {port} still open after {sig.name}"
