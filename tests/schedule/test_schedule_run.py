"""The entry point ``peaktrade schedule run NAME``, run the way the timer or cron runs it: an experiment spec
through the rendered crontab line (``sh -c``, flock and all), a testnet profile's notebook through the rendered
service's ``ExecStart``; overlapping runs skipped; every MLflow run tagged with the schedule's name."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "live"))
from testnet_helpers import write_testnet_config  # noqa: E402

#: What a timer or cron does not have: the variables of the shell that ran ``schedule add``.
_NOT_IN_CRON = ("PEAK_TRADE_CONFIG_PATH", "PEAKTRADE_STATE_DIR")


def _cron_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_IN_CRON and not k.startswith("PEAKTRADE__")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])  # the checkout may not be installed
    return env


def _tagged_runs(db: Path) -> list:
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}")
    return [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]


def _spec(tmp_path: Path) -> Path:
    """A spec of one run of a small notebook that logs its own analysis run under the batch's (as the research
    notebooks do, without their backtests: what is tested here is what the schedule adds)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('label: str = "x"  # what to call the run\ntrack: bool = False  # log to '
                                       'MLflow\nparent_run_id: str = ""  # the batch run to nest under')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "from peaktrade.tracking import tracked_run\n"
        "if track:\n"
        "    with tracked_run(run_name=label, parent_run_id=parent_run_id or None) as run:\n"
        "        run.log_metrics({'answer': 42.0})")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "analysis.ipynb")
    spec = tmp_path / "experiments" / "nightly.toml"
    spec.parent.mkdir()
    spec.write_text(f'name = "nightly"\nnotebook = "{tmp_path / "analysis.ipynb"}"\n[parameters]\nlabel = "nightly"\n')
    return spec


def test_cron_line_when_run_by_sh_then_experiment_runs_once_and_every_mlflow_run_is_tagged(make_cfg, cli, tmp_path):
    cfg = make_cfg(tracking={"uri": f"sqlite:///{tmp_path}/mlruns.db", "artifacts": str(tmp_path / "art")},
                   reports={"dir": str(tmp_path / "reports")},
                   schedule={"backend": "cron", "crontab_file": str(tmp_path / "crontab")})
    assert cli("schedule", "add", str(_spec(tmp_path)), "--every", "1h").exit_code == 0
    (line,) = (tmp_path / "crontab").read_text().splitlines()
    fields = line.split(" ", 5)
    assert " ".join(fields[:5]) == "0 * * * *"
    command = fields[5].rsplit(" # peaktrade-schedule:", 1)[0]
    sched = cfg.state_dir / "schedule"

    # the last run still holds the cron lock: flock -n skips this one before Python even starts
    with open(sched / "nightly.cron.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = subprocess.run(["sh", "-c", command], env=_cron_env(), timeout=60)
    assert busy.returncode == 1 and not (sched / "nightly.last.json").exists()

    done = subprocess.run(["sh", "-c", command], env=_cron_env(), timeout=600)
    log = (sched / "nightly.log").read_text()
    assert done.returncode == 0, log
    last = json.loads((sched / "nightly.last.json").read_text())
    assert last["status"] == "ok" and last["exit_code"] == 0 and last["run"].startswith("nightly-")
    assert f"schedule nightly: run {last['run']} ok (exit 0)" in log
    runs = _tagged_runs(tmp_path / "mlruns.db")
    kinds = sorted(r.data.tags.get("peaktrade.kind") for r in runs)
    assert kinds == ["batch", "notebook", "run"]  # the batch, its notebook, and the run the notebook logged
    assert all(r.data.tags.get("peaktrade.schedule") == "nightly" for r in runs)
    assert {r.data.tags.get("peaktrade.schedule_run") for r in runs} == {last["run"]}
    assert all(r.info.status == "FINISHED" for r in runs)


def test_entry_point_when_target_fails_then_its_exit_status_and_failed_recorded(make_cfg, cli, tmp_path):
    cfg = make_cfg(schedule={"backend": "cron", "crontab_file": str(tmp_path / "crontab")})
    spec = _spec(tmp_path)
    assert cli("schedule", "add", str(spec), "--every", "1h").exit_code == 0
    spec.unlink()  # the spec went away after the schedule was added
    r = cli("schedule", "run", "nightly")
    assert r.exit_code == 2
    assert "schedule nightly: run nightly-" in r.stdout and "failed (exit 2)" in r.stdout
    last = json.loads((cfg.state_dir / "schedule" / "nightly.last.json").read_text())
    assert (last["status"], last["exit_code"]) == ("failed", 2)


@pytest.fixture
def sim_server():
    import peaktrade.sim as sim

    ex = sim.SimExchange(keys=dict([sim.sim_credentials()]), seed=5, tier="pro")
    with sim.serve_in_thread(ex) as srv:
        yield srv


def _unit_value(text: str, key: str) -> list[str]:
    return [ln.split("=", 1)[1] for ln in text.splitlines() if ln.startswith(f"{key}=")]


def test_service_when_run_while_a_run_is_in_progress_then_second_skipped_and_testnet_notebook_tagged(
        cli, tmp_path, clean_env, sim_server):
    path = write_testnet_config(tmp_path, testnet={"mode": "kraken-sim", "sim_url": sim_server.url}, profiles={
        "fast": {"strategy": "ma_crossover", "parameters": {"fast": 2, "slow": 4}, "symbol": "BTC/USD",
                 "timeframe": "1m", "duration": 20.0, "max_notional": 5000.0, "max_trades": 10}})
    with path.open("a") as f:
        f.write(f'[schedule]\nbackend = "systemd"\nunit_dir = "{tmp_path / "units"}"\nsystemctl = false\n')
    clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(path))
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks")  # the project's notebooks, in this project root
    assert cli("schedule", "add", "fast", "--every", "15m", "--name", "tn").exit_code == 0
    service = (tmp_path / "units" / "peaktrade-tn.service").read_text()
    (exec_start,), (cwd,) = _unit_value(service, "ExecStart"), _unit_value(service, "WorkingDirectory")
    env = _cron_env() | dict(v.split("=", 1) for v in _unit_value(service, "Environment"))
    first = subprocess.Popen(shlex.split(exec_start), cwd=cwd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        lock = tmp_path / "runs" / "state" / "schedule" / "tn.lock"
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text()) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        holder = json.loads(lock.read_text())
        assert holder["pid"] == first.pid

        second = cli("schedule", "run", "tn")  # by hand, while the timer's run goes on
        assert second.exit_code == 0 and not (lock.parent / "tn.last.json").exists()
        assert f"schedule tn: skipped, the previous run is still running (pid {first.pid} " in second.stdout
        assert f"run {holder['run']}," in second.stdout
        out, _ = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, out
    assert "notebook executed:" in out and f"schedule tn: run {holder['run']} ok" in out
    runs = _tagged_runs(tmp_path / "mlruns.db")
    testnet = [r for r in runs if r.data.tags.get("peaktrade.environment") == "testnet"]
    assert testnet and all(r.data.tags.get("peaktrade.schedule") == "tn" for r in runs)
    assert {r.data.tags.get("peaktrade.schedule_run") for r in runs} == {holder["run"]}
    assert json.loads((lock.parent / "tn.last.json").read_text())["status"] == "ok"
