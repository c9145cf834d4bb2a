"""``peaktrade mlflow ui|runs`` and ``peaktrade report RUN_ID``; the MLflow UI really starts."""

from __future__ import annotations

import shlex
import socket
from pathlib import Path

import pytest

from peaktrade.tracking import log_backtest, log_sweep, tracked_run


@pytest.fixture(autouse=True)
def _wired():
    """Register the commands on the root app when cli/main.py does not (yet)."""
    from peaktrade.cli import main as cli_main
    from peaktrade.cli import mlflow_cmd, report_cmd

    if not any(g.name == "mlflow" for g in cli_main.app.registered_groups):
        mlflow_cmd.register(cli_main.app)
    if not any(c.name == "report" for c in cli_main.app.registered_commands):
        report_cmd.register(cli_main.app)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_ui_when_dry_run_then_prints_the_command_on_the_project_store_and_the_url(tcfg, cli):
    out = cli("mlflow", "ui", "--dry-run", "--port", "5123")
    assert out.exit_code == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    cmd = shlex.split(lines[0].removeprefix("command: "))
    assert cmd[1:4] == ["-m", "mlflow", "ui"]
    assert cmd[cmd.index("--backend-store-uri") + 1] == tcfg.tracking.uri
    assert cmd[cmd.index("--default-artifact-root") + 1] == str(tcfg.root / "art")
    assert cmd[cmd.index("--port") + 1] == "5123" and cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert lines[1] == "MLflow UI: http://127.0.0.1:5123"


# The real UI answering HTTP 200 on loopback on the project's store: test_mlflow_ui_stop.py (one server start
# for that and its stop).


def test_mlflow_runs_when_runs_exist_then_lists_newest_first_with_ids_and_key_metrics(tcfg, cli, result,
                                                                                    sweep_result):
    bt = log_backtest(result, config=tcfg, report=False)
    sw = log_sweep(sweep_result, config=tcfg, top_n=1, report=False)
    out = cli("mlflow", "runs", "--limit", "10")
    assert out.exit_code == 0, out.stderr
    assert bt in out.stdout and sw in out.stdout
    assert out.stdout.index(sw) < out.stdout.index(bt)
    assert "sharpe=" in out.stdout and "FINISHED" in out.stdout


def test_mlflow_runs_when_a_sweep_has_a_pbo_then_its_null_mean_and_convention_are_printed(tcfg, cli,
                                                                                          sweep_result):
    import pandas as pd

    log_sweep(sweep_result, config=tcfg, top_n=0, report=False, overfitting=pd.Series({"pbo": 0.25}))
    out = cli("mlflow", "runs")
    assert out.exit_code == 0, out.stderr
    assert "pbo=0.25  pbo_null_mean=0.5" in out.stdout  # N = 12 combinations
    assert "0.5 + 1/(2N) for odd N" in out.stdout


def test_mlflow_runs_when_experiment_is_unknown_then_one_line_error(tcfg, cli):
    with tracked_run(config=tcfg):
        pass
    out = cli("mlflow", "runs", "--experiment", "nope")
    assert out.exit_code == 2
    assert "no experiment 'nope'" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_mlflow_runs_when_nothing_was_tracked_then_one_line_error(make_cfg, tmp_path, cli, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    make_cfg(tracking={"uri": f"sqlite:///{tmp_path}/none.db"})
    out = cli("mlflow", "runs")
    assert out.exit_code == 2 and "no MLflow store" in out.stderr
    assert not (tmp_path / "none.db").exists()


def test_report_when_given_a_run_id_then_the_logged_report_is_fetched(tcfg, cli, result, tmp_path):
    run_id = log_backtest(result, config=tcfg)
    out = cli("report", run_id, "--out", str(tmp_path / "fetched.html"))
    assert out.exit_code == 0, out.stderr
    path = Path(out.stdout.strip())
    assert path == tmp_path / "fetched.html"
    assert run_id in path.read_text(encoding="utf-8")


def test_report_when_run_has_no_report_then_it_is_rebuilt_from_result_artifacts(tcfg, cli, result):
    run_id = log_backtest(result, config=tcfg, report=False)
    out = cli("report", run_id)
    assert out.exit_code == 0, out.stderr
    path = Path(out.stdout.strip())
    assert path.parent == tcfg.reports_dir and path.name.startswith(f"{run_id}-backtest-")  # named by run id first
    html = path.read_text(encoding="utf-8")
    assert 'id="section-backtest"' in html and "rebuilt from" in html and run_id in html


def test_report_when_run_id_is_unknown_then_one_line_error(tcfg, cli):
    with tracked_run(config=tcfg):
        pass
    out = cli("report", "0" * 32)
    assert out.exit_code == 2
    assert f"no run {'0' * 32}" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_mlflow_ui_when_tracking_uri_is_a_server_then_one_line_error(tcfg, cli, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://user:pw@127.0.0.1:9")
    out = cli("mlflow", "ui", "--dry-run")
    assert out.exit_code == 2 and "is a tracking server already" in out.stderr
    assert "pw" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
