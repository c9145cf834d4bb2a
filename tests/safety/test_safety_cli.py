"""CLI: `peaktrade live run` refuses naming the first closed gate; `live gates`; `kill-switch on|off|status`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from safety_helpers import ALL_LIMITS, ready_probe

from peaktrade.config import SECRET_VARS
from peaktrade.safety import arm_value, confirm_token, register_readiness_probe

RUN = ("live", "run", "--strategy", "ma_crossover", "--symbol", "BTC/USD", "--timeframe", "1h", "--notional", "50")


@pytest.fixture
def probe():
    """Register a healthy readiness probe for the CLI (as an exchange adapter would), then restore."""
    p = ready_probe()
    old = register_readiness_probe(p)
    yield p
    register_readiness_probe(old)


def refused(r, gate: str) -> str:
    assert r.exit_code == 2 and r.stdout == "", r
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"error: live trading refused: gate '{gate}' is closed: "), r.stderr
    return r.stderr.strip()


def test_live_run_when_gates_open_one_by_one_then_each_refusal_names_the_first_closed(cli, make_cfg, clean_env,
                                                                                      probe):
    make_cfg(risk=ALL_LIMITS)  # the shipped default: live disabled
    refused(cli(*RUN), "live_enabled")
    cfg = make_cfg(live={"enabled": True}, risk=ALL_LIMITS)
    refused(cli(*RUN), "live_armed")
    clean_env.setenv(cfg.live.arm_env, "1")  # a plain "1" does not arm
    refused(cli(*RUN), "live_armed")
    clean_env.setenv(cfg.live.arm_env, arm_value(cfg))
    refused(cli(*RUN), "confirm_token")
    refused(cli(*RUN, "--confirm", "LIVE-deadbeef"), "confirm_token")
    assert cli("kill-switch", "on", "--scope", "live", "--reason", "incident 42").exit_code == 0
    assert "incident 42" in refused(cli(*RUN, "--confirm", confirm_token(cfg)), "readiness")
    # `live run` runs the full readiness list as gate 4 (tests/live/test_live_run.py, against the simulator standing
    # in for the venue): a probe registered by anyone else is set aside, never asked
    assert probe.calls == []


def test_live_run_when_risk_limits_missing_then_readiness_refuses(cli, make_cfg, clean_env, probe):
    cfg = make_cfg(live={"enabled": True})
    clean_env.setenv(cfg.live.arm_env, arm_value(cfg))
    msg = refused(cli(*RUN, "--confirm", confirm_token(cfg)), "readiness")
    assert "risk_limits_configured: [risk] max_order_notional" in msg and probe.calls == []


def test_live_gates_when_shown_then_each_gate_listed_with_tokens_and_no_secrets(cli, make_cfg, clean_env):
    clean_env.setenv("KRAKEN_API_KEY", "sekrit-key-123")
    clean_env.setenv("KRAKEN_API_SECRET", "sekrit-secret-456")
    cfg = make_cfg()
    r = cli("live", "gates")
    assert r.exit_code == 1, r  # a gate is closed
    lines = r.stdout.splitlines()
    for i, name in enumerate(["live_enabled", "live_armed", "confirm_token", "readiness"], 1):
        assert any(line.strip().startswith(f"{i}. {name}") and "CLOSED" in line for line in lines), r.stdout
    assert f"PEAKTRADE_LIVE_ARMED={arm_value(cfg)}" in r.stdout and f"--confirm {confirm_token(cfg)}" in r.stdout
    assert "sekrit" not in r.stdout + r.stderr and {"KRAKEN_API_KEY", "KRAKEN_API_SECRET"} <= set(SECRET_VARS)


def test_live_gates_when_every_gate_open_then_exit_0(cli, make_cfg, clean_env, probe):
    cfg = make_cfg(live={"enabled": True}, risk=ALL_LIMITS)
    clean_env.setenv(cfg.live.arm_env, arm_value(cfg))
    r = cli("live", "gates", "--confirm", confirm_token(cfg))
    assert r.exit_code == 0 and r.stdout.count(" open ") == 4, r


def test_kill_switch_cli_when_on_status_off_then_persisted_and_reset_needs_confirm(cli, make_cfg, tmp_path):
    make_cfg(safety={"state_dir": str(tmp_path / "st")})
    r = cli("kill-switch", "on", "--reason", "exchange incident")
    assert r.exit_code == 0 and "kill switch engaged: halted (scope all)" in r.stdout
    assert (tmp_path / "st" / "kill_switch.json").is_file()
    r = cli("kill-switch", "status")
    assert r.exit_code == 0 and "exchange incident" in r.stdout
    assert "effective: paper halted, shadow halted, testnet halted, live halted" in r.stdout

    r = cli("kill-switch", "off")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "--confirm" in r.stderr
    r = cli("kill-switch", "on", "--reducing")
    assert r.exit_code == 2 and "needs confirmation" in r.stderr  # loosening halted → reducing
    r = cli("kill-switch", "on", "--reducing", "--confirm", "--reason", "flatten")
    assert r.exit_code == 0 and "effective: paper reducing" in r.stdout
    r = cli("kill-switch", "off", "--confirm")
    assert r.exit_code == 0 and "effective: paper active, shadow active, testnet active, live active" in r.stdout
    r = cli("kill-switch", "on", "--scope", "prod")
    assert r.exit_code == 2 and "scope='prod' is invalid" in r.stderr


def test_kill_switch_cli_when_state_file_corrupted_then_status_shows_engaged(cli, make_cfg, tmp_path):
    make_cfg(safety={"state_dir": str(tmp_path / "st")})
    (tmp_path / "st").mkdir()
    (tmp_path / "st" / "kill_switch.live.json").write_text("{oops")
    r = cli("kill-switch", "status")
    assert r.exit_code == 0 and "live     halted (scope live): state file" in r.stdout and "fail closed" in r.stdout
    assert "live halted" in r.stdout and "paper active" in r.stdout


def test_kill_switch_cli_when_used_across_processes_then_state_persists(make_cfg, tmp_path):
    make_cfg(safety={"state_dir": str(tmp_path / "st")})  # sets PEAK_TRADE_CONFIG_PATH for the children
    script = Path(sys.executable).with_name("peaktrade")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "peaktrade.cli.main"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ),
                              timeout=120)

    on = run("kill-switch", "on", "--reason", "from process one")
    assert on.returncode == 0, on.stderr
    status = run("kill-switch", "status")
    assert status.returncode == 0 and "halted (scope all)" in status.stdout and "from process one" in status.stdout
    off = run("kill-switch", "off")
    assert off.returncode == 2 and off.stderr.count("\n") == 1 and "Traceback" not in off.stderr
    off = run("kill-switch", "off", "--confirm")
    assert off.returncode == 0, off.stderr
    assert "live active" in run("kill-switch", "status").stdout
