"""``peaktrade mlflow ui`` stops its server and the server's workers on Ctrl-C (SIGINT), SIGTERM, SIGHUP
(terminal closed) and SIGQUIT.

The real CLI runs as a subprocess and serves a real MLflow UI on a free port; the signal goes to the
CLI process only (as systemd, ``kill`` or a terminal's Ctrl-C to the foreground job would deliver it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT],
                         ids=["sigterm", "sigint", "sighup", "sigquit"])
def test_mlflow_ui_when_signalled_then_port_closes_and_no_server_process_is_left(tcfg, sig):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    proc = subprocess.Popen([sys.executable, "-c", "from peaktrade.cli.main import main; raise SystemExit(main())",
                             "mlflow", "ui", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)  # the server's log could fill a pipe
    descendants: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core machine needs over a minute
        answered = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=2) as resp:
                    answered = resp.status == 200
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        assert answered, f"the UI never answered on port {port} (exit code {proc.poll()})"
        descendants = psutil.Process(proc.pid).children(recursive=True)
        assert descendants, "expected the MLflow server (and its workers) as children of the CLI"

        proc.send_signal(sig)  # to the CLI process only, not its group
        out, err = proc.communicate(timeout=60)

        assert proc.returncode == 0, out
        assert "MLflow UI stopped" in out
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _running(descendants):
            time.sleep(0.1)
        alive = _running(descendants)
        assert not alive, f"server processes left after {sig.name}: {[p.pid for p in alive]}"
        assert not _port_open(port), f"port {port} still open after {sig.name}"
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
