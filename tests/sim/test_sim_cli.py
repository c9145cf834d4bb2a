"""``peaktrade sim-exchange serve``: registration, one-line user errors."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from peaktrade.cli import sim_cmd


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    sim_cmd.register(app)
    return app


def test_register_when_called_then_sim_exchange_serve_has_documented_options():
    res = CliRunner().invoke(_app(), ["sim-exchange", "serve", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for opt in ("--host", "--port", "--api-key", "--api-secret", "--bars", "--speed", "--faults"):
        assert opt in res.output


def test_serve_when_secret_not_base64_then_one_line_error_exit_2(monkeypatch):
    from peaktrade.cli import main as cli_main

    if not any(g.name == "sim-exchange" for g in cli_main.app.registered_groups):
        monkeypatch.setattr(cli_main.app, "registered_groups", list(cli_main.app.registered_groups))
        sim_cmd.register(cli_main.app)
    monkeypatch.setenv("PEAKTRADE_SIM_API_SECRET", "not base64!")
    rc = cli_main.main(["sim-exchange", "serve", "--port", "0", "--api-key", "K", "--bars", "synthetic:n=800"])
    assert rc == 2
    monkeypatch.setenv("PEAKTRADE_SIM_API_SECRET", "AQEB")
    rc = cli_main.main(["sim-exchange", "serve", "--port", "0", "--api-key", "K",
                        "--faults", "flaky:p=7", "--bars", "synthetic:n=800"])
    assert rc == 2


def test_serve_when_started_as_process_then_answers_kraken_time_on_loopback():
    import json
    import re
    import subprocess
    import sys
    import urllib.request

    script = ("import sys; from peaktrade.cli import main as m, sim_cmd\n"
              "if not any(g.name == 'sim-exchange' for g in m.app.registered_groups): sim_cmd.register(m.app)\n"
              "sys.exit(m.main(sys.argv[1:]))")
    import os

    args = ["sim-exchange", "serve", "--port", "0", "--api-key", "K", "--bars", "synthetic:n=2000", "--speed", "0"]
    env = {**os.environ, "PEAKTRADE_SIM_API_SECRET": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="}
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        with urllib.request.urlopen(url + "/0/public/Time", timeout=5) as r:
            out = json.loads(r.read())
        assert out["error"] == [] and out["result"]["unixtime"] > 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


@pytest.mark.parametrize("bad", [["--request-timeout", "0"], ["--request-timeout", "nan"], ["--speed", "nan"],
                                 ["--balance", "ZUSD=nan"], ["--balance", "DOGE=5"], ["--balance", "ZUSD=-1"]])
def test_serve_when_limit_or_start_value_invalid_then_one_line_error_exit_2(monkeypatch, capsys, bad):
    from peaktrade.cli import main as cli_main

    if not any(g.name == "sim-exchange" for g in cli_main.app.registered_groups):
        monkeypatch.setattr(cli_main.app, "registered_groups", list(cli_main.app.registered_groups))
        sim_cmd.register(cli_main.app)
    monkeypatch.setenv("PEAKTRADE_SIM_API_SECRET", "AQEB")
    rc = cli_main.main(["sim-exchange", "serve", "--port", "0", "--api-key", "K", "--bars", "synthetic:n=800", *bad])
    assert rc == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "expected" in err
