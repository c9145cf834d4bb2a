"""``make lab`` / ``peaktrade lab``: JupyterLab on notebooks/ with the project's kernel, on 127.0.0.1, with a token.

The server is really started (a free port), asked over HTTP, and stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from helpers import REPO_ROOT

from peaktrade.experiments.kernel import KERNEL_NAME, kernel_spec_dir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def test_make_lab_when_run_then_it_starts_peaktrade_lab_from_the_venv():
    # under `make test` the parent make's MAKELEVEL/MAKEFLAGS would add "Entering directory" lines
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    r = subprocess.run(["make", "--no-print-directory", "-n", "lab", "VENV=/opt/v", "PORT=8999"], cwd=REPO_ROOT,
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert "/opt/v/bin/peaktrade lab --port 8999" in r.stdout.splitlines()[-1]


def test_lab_when_started_then_it_serves_notebooks_on_loopback_with_a_token_and_the_project_kernel(tmp_path):
    port = _free_port()
    token = "t" + os.urandom(12).hex()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "JUPYTER_TOKEN": token,
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg")}
    env.pop("PEAK_TRADE_CONFIG_PATH", None)
    proc = subprocess.Popen([sys.executable, "-m", "peaktrade.cli.main", "lab", "--port", str(port)], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/api/status?token={token}")
                break
            except OSError:
                time.sleep(0.5)
        assert status == 200, f"JupyterLab did not answer on 127.0.0.1:{port} (exit {proc.poll()})"
        assert _get(f"http://127.0.0.1:{port}/api/contents")[0] == 403  # no token, no access
        _, body = _get(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}")
        specs = json.loads(body)
        assert specs["default"] == KERNEL_NAME and KERNEL_NAME in specs["kernelspecs"]
        _, body = _get(f"http://127.0.0.1:{port}/api/contents?token={token}")
        names = {item["name"] for item in json.loads(body)["content"]}
        assert "10-backtest.ipynb" in names  # the root is notebooks/
        spec = json.loads((kernel_spec_dir() / "kernel.json").read_text(encoding="utf-8"))
        assert spec["argv"][0] == sys.executable  # the environment peaktrade runs in (.venv under make)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert token not in " ".join(proc.args)  # the token never on the command line
    with socket.socket() as s:  # the server is gone: nothing listens on the port (TIME_WAIT aside)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_lab_when_dry_run_then_it_binds_loopback_by_default(cli):
    r = cli("lab", "--dry-run")
    assert r.exit_code == 0, r.stderr
    assert "--ServerApp.ip=127.0.0.1" in r.stdout and f"default_kernel_name={KERNEL_NAME}" in r.stdout
    assert "token" not in r.stdout.lower()


def test_lab_when_port_invalid_then_one_line_error(cli):
    r = cli("lab", "--port", "99999")
    assert r.exit_code != 0 and "Traceback" not in r.stderr + r.stdout


def test_lab_when_token_unset_and_config_given_then_printed_url_logs_in_and_kernels_get_the_config(tmp_path):
    import re
    import shutil
    import threading

    import psutil

    project = tmp_path / "proj"
    (project / "notebooks").mkdir(parents=True)
    config = project / "config" / "config.toml"
    config.parent.mkdir()
    shutil.copy(REPO_ROOT / "config" / "config.toml", config)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg")}
    for k in ("JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE", "PEAK_TRADE_CONFIG_PATH"):
        env.pop(k, None)
    proc = subprocess.Popen([sys.executable, "-m", "peaktrade.cli.main", "--config", str(config), "lab", "--port",
                             str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        token = None
        while time.monotonic() < deadline and proc.poll() is None and token is None:
            found = [m.group(1) for line in list(lines) for m in [re.search(rf":{port}/\S*token=(\w+)", line)] if m]
            token = found[0] if found else None
            time.sleep(0.5)
        assert token, f"no URL with a token printed: {''.join(lines)[-2000:]}"
        assert _get(f"http://127.0.0.1:{port}/api/status?token={token}")[0] == 200  # the printed URL logs in
        server = psutil.Process(proc.pid).children()[0]
        server_env = server.environ()  # what every kernel the server starts inherits
        assert server_env.get("PEAK_TRADE_CONFIG_PATH") == str(config.resolve())
        assert "JUPYTER_TOKEN" not in server_env
        assert token not in " ".join(server.cmdline())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    assert proc.returncode == 0, "".join(lines)[-2000:]
