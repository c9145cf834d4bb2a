"""``peaktrade schedule add|list|remove`` through the real CLI, installing into temp directories only (a unit
directory, a crontab file, a recording ``systemctl`` first on PATH): never the machine's systemd or crontab."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "experiments" / "demo.toml"


@pytest.fixture
def sched_cfg(make_cfg, tmp_path):
    """Return ``make(**schedule)``: a test config whose schedules install under ``tmp_path`` only."""
    def make(**schedule):
        base = {"backend": "systemd", "unit_dir": str(tmp_path / "units"), "systemctl": False,
                "crontab_file": str(tmp_path / "crontab")}
        return make_cfg(schedule=base | schedule)
    return make


def test_add_when_systemd_then_timer_is_persistent_and_service_calls_the_entry_point(sched_cfg, cli, tmp_path):
    cfg = sched_cfg()
    r = cli("schedule", "add", str(SPEC), "--every", "6h")
    assert r.exit_code == 0, r.stderr
    assert "run: systemctl --user enable --now peaktrade-demo.timer" in r.stdout  # systemctl = false: printed
    timer = (tmp_path / "units" / "peaktrade-demo.timer").read_text()
    service = (tmp_path / "units" / "peaktrade-demo.service").read_text()
    assert "OnCalendar=*-*-* 00/6:00:00\nPersistent=true\nUnit=peaktrade-demo.service" in timer
    assert "WantedBy=timers.target" in timer
    assert "Type=oneshot" in service and f"WorkingDirectory={cfg.root}" in service
    assert f"Environment=PEAKTRADE_STATE_DIR={cfg.state_dir}" in service  # the kill switch the user sees
    assert (f"ExecStart={sys.executable} -m peaktrade.cli.main --config {Path(cfg.source).resolve()} "
            "schedule run demo") in service
    rows = json.loads(cli("schedule", "list", "--json").stdout)["schedules"]
    assert rows == [{"name": "demo", "timing": "every 6h", "target": f"experiment run {SPEC}", "backend": "systemd",
                     "installed": True, "root": str(cfg.root), "last_run": None}]
    r = cli("schedule", "remove", "demo")
    assert r.exit_code == 0 and not list((tmp_path / "units").iterdir())
    assert json.loads(cli("schedule", "list", "--json").stdout)["schedules"] == []


def _fake_systemctl(tmp_path: Path, monkeypatch, *, fail_on: str = "") -> Path:
    """Put a ``systemctl`` first on PATH that records its arguments (and fails on ``fail_on``)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "systemctl.log"
    bin_dir.mkdir()
    exe = bin_dir / "systemctl"
    exe.write_text(f'#!/bin/sh\necho "$*" >> {log}\ncase "$*" in *"{fail_on or "@never@"}"*) '
                   'echo "Failed to connect to bus" >&2; exit 1;; esac\n')
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_add_when_systemctl_on_then_reloaded_enabled_and_remove_disables(sched_cfg, cli, tmp_path, monkeypatch):
    log = _fake_systemctl(tmp_path, monkeypatch)
    sched_cfg(systemctl=True)
    assert cli("schedule", "add", "sma-btc-1m", "--cron", "30 * * * *").exit_code == 0
    assert cli("schedule", "remove", "testnet-sma-btc-1m").exit_code == 0
    assert log.read_text().splitlines() == [
        "--user daemon-reload", "--user enable --now peaktrade-testnet-sma-btc-1m.timer",
        "--user disable --now peaktrade-testnet-sma-btc-1m.timer", "--user daemon-reload"]


def test_add_when_systemctl_fails_then_one_line_error_and_nothing_left_behind(sched_cfg, cli, tmp_path, monkeypatch):
    _fake_systemctl(tmp_path, monkeypatch, fail_on="enable")
    cfg = sched_cfg(systemctl=True)
    r = cli("schedule", "add", "sma-btc-1m", "--every", "1h")
    assert r.exit_code == 2
    assert "`systemctl --user enable --now peaktrade-testnet-sma-btc-1m.timer` failed (exit 1): Failed to connect " \
           "to bus" in r.stderr and "Traceback" not in r.stderr
    assert not list((tmp_path / "units").iterdir()) and not list((cfg.state_dir / "schedule").glob("*.json"))


def test_add_when_cron_then_flock_wrapped_line_added_and_other_lines_kept(sched_cfg, cli, tmp_path):
    cfg = sched_cfg(backend="cron")
    crontab = tmp_path / "crontab"
    crontab.write_text("MAILTO=me@example.org\n0 3 * * * /usr/local/bin/backup\n")
    assert cli("schedule", "add", str(SPEC), "--cron", "*/20 9-17 * * 1-5", "--name", "weekday").exit_code == 0
    assert cli("schedule", "add", "sma-btc-1m", "--every", "1h").exit_code == 0
    lines = crontab.read_text().splitlines()
    assert lines[:2] == ["MAILTO=me@example.org", "0 3 * * * /usr/local/bin/backup"]
    d = cfg.state_dir / "schedule"
    assert lines[2] == (f"*/20 9-17 * * 1-5 cd {cfg.root} && PEAKTRADE_STATE_DIR={cfg.state_dir} flock -n "
                        f"{d}/weekday.cron.lock {sys.executable} -m peaktrade.cli.main --config "
                        f"{Path(cfg.source).resolve()} schedule run weekday >> {d}/weekday.log 2>&1 "
                        "# peaktrade-schedule:weekday")
    assert lines[3].startswith("0 * * * * cd ") and lines[3].endswith("# peaktrade-schedule:testnet-sma-btc-1m")
    listed = cli("schedule", "list").stdout
    assert "weekday" in listed and "testnet-sma-btc-1m" in listed and "NOT INSTALLED" not in listed
    assert cli("schedule", "remove", "weekday").exit_code == 0
    assert crontab.read_text().splitlines() == [*lines[:2], lines[3]]


def test_add_when_name_taken_then_refused_and_the_existing_schedule_kept(sched_cfg, cli, tmp_path):
    sched_cfg()
    assert cli("schedule", "add", str(SPEC), "--every", "1h").exit_code == 0
    before = (tmp_path / "units" / "peaktrade-demo.timer").read_text()
    r = cli("schedule", "add", str(SPEC), "--every", "15m")
    assert r.exit_code == 2 and "a schedule named 'demo' exists (every 1h): remove it first" in r.stderr
    assert (tmp_path / "units" / "peaktrade-demo.timer").read_text() == before


@pytest.mark.parametrize(("argv", "message"), [
    (("nope",), "give exactly one of --every PERIOD and --cron EXPR"),
    (("nope", "--every", "1h", "--cron", "0 * * * *"), "give exactly one of --every PERIOD and --cron EXPR"),
    (("nope", "--every", "1h"), "'nope' is neither an experiment spec file (.toml) nor a testnet profile "
                                "(profiles: sma-btc-1m)"),
    (("missing.toml", "--every", "1h"), "experiment spec not found"),
    (("sma-btc-1m", "--every", "1h", "--name", "Bad Name"), "schedule name 'Bad Name' is invalid"),
    (("sma-btc-1m", "--every", "1h", "--backend", "launchd"), "--backend 'launchd' is invalid"),
])
def test_add_when_bad_input_then_one_line_error_and_nothing_installed(sched_cfg, cli, tmp_path, argv, message):
    sched_cfg()
    r = cli("schedule", "add", *argv)
    assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "units").exists()


def test_remove_when_unknown_then_one_line_error(sched_cfg, cli):
    sched_cfg()
    r = cli("schedule", "remove", "ghost")
    assert r.exit_code == 2 and "no schedule named 'ghost'" in r.stderr


def test_dry_run_when_cron_then_line_printed_and_nothing_written(sched_cfg, cli, tmp_path):
    sched_cfg(backend="cron")
    r = cli("schedule", "add", "sma-btc-1m", "--every", "15m", "--dry-run")
    assert r.exit_code == 0 and "*/15 * * * * cd " in r.stdout and "dry run: nothing installed" in r.stdout
    assert not (tmp_path / "crontab").exists()


def test_add_when_overrides_set_then_carried_into_the_unit_and_credentials_refused(sched_cfg, cli, tmp_path,
                                                                                    monkeypatch):
    sched_cfg()
    monkeypatch.setenv("PEAKTRADE__TESTNET__MODE", "kraken-sim")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://alice:s3cret@127.0.0.1:5000")
    r = cli("schedule", "add", "sma-btc-1m", "--every", "1h")
    assert r.exit_code == 2 and "MLFLOW_TRACKING_URI holds a credential in a URL" in r.stderr
    assert "s3cret" not in r.stderr + r.stdout and not (tmp_path / "units").exists()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert cli("schedule", "add", "sma-btc-1m", "--every", "1h").exit_code == 0
    service = (tmp_path / "units" / "peaktrade-testnet-sma-btc-1m.service").read_text()
    assert "Environment=MLFLOW_TRACKING_URI=http://127.0.0.1:5000\n" in service
    assert "Environment=PEAKTRADE__TESTNET__MODE=kraken-sim\n" in service


def test_add_when_cron_and_a_carried_value_has_a_percent_then_refused_naming_it_without_the_value(sched_cfg, cli,
                                                                                                  tmp_path, monkeypatch):
    sched_cfg(backend="cron")
    monkeypatch.setenv("PEAKTRADE__TRACKING__EXPERIMENT", "run-50%-QzX7")
    r = cli("schedule", "add", "sma-btc-1m", "--every", "1h")
    assert r.exit_code == 2
    assert "the value of PEAKTRADE__TRACKING__EXPERIMENT contains '%' or a newline" in r.stderr
    assert "QzX7" not in r.stderr + r.stdout and "flock" not in r.stderr  # neither the value nor the command
    assert not (tmp_path / "crontab").exists()


def test_units_when_paths_have_spaces_then_systemd_verifies_them(sched_cfg, cli, tmp_path, clean_env):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed: systemd's unit parser is the oracle of this check")
    cfg = sched_cfg()
    project = tmp_path / "my project"
    project.mkdir()
    moved = project / "peaktrade.toml"
    moved.write_text(Path(cfg.source).read_text())
    clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(moved))
    clean_env.setenv("PEAKTRADE_STATE_DIR", str(tmp_path / "state 100%"))
    assert cli("schedule", "add", "sma-btc-1m", "--every", "1h", "--name", "sp").exit_code == 0
    units = tmp_path / "units"
    service = (units / "peaktrade-sp.service").read_text()
    assert f"WorkingDirectory={project}\n" in service and f'--config "{moved}"' in service
    assert f'Environment="PEAKTRADE_STATE_DIR={tmp_path}/state 100%%"' in service  # % is a systemd specifier
    (tmp_path / "xdg").mkdir()
    p = subprocess.run(["systemd-analyze", "verify", "--user", "peaktrade-sp.service", "peaktrade-sp.timer"],
                       cwd=units, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path / "xdg")})
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr
