"""Kill switch: persisted, survives restarts, fails closed on a bad file, released only explicitly."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from safety_helpers import MIDNIGHT, T0, ledger_with, order

import peaktrade.safety._kill_switch as ks_mod
from peaktrade.safety import KillSwitch, SafetyError, TradingState, build_checks


def test_kill_switch_when_never_engaged_then_active():
    ks = KillSwitch(None, "paper")
    assert ks.state is TradingState.ACTIVE and not ks.status().engaged


def test_kill_switch_when_engaged_then_persisted_atomically_as_json(tmp_path):
    KillSwitch(tmp_path).engage("manual stop", scope="all")
    data = json.loads((tmp_path / "kill_switch.json").read_text())
    assert data["state"] == "halted" and data["reason"] == "manual stop" and data["scope"] == "all"
    assert [p.name for p in tmp_path.iterdir()] == ["kill_switch.json"]  # no temp file left behind


def test_kill_switch_when_scope_all_engaged_then_every_environment_halted(tmp_path):
    KillSwitch(tmp_path).engage("everything", scope="all")
    for env in ("paper", "shadow", "testnet", "live"):
        assert KillSwitch(tmp_path, env).state is TradingState.HALTED


def test_kill_switch_when_one_environment_engaged_then_others_unaffected(tmp_path):
    KillSwitch(tmp_path, "live").engage("live only")
    assert KillSwitch(tmp_path, "live").state is TradingState.HALTED
    assert KillSwitch(tmp_path, "paper").state is TradingState.ACTIVE


def test_daily_loss_breach_when_session_restarts_then_still_engaged_until_explicit_reset(make_cfg, tmp_path):
    cfg = make_cfg(risk={"max_daily_loss": 100.0}, safety={"state_dir": str(tmp_path / "st")})
    guard, limits = build_checks("paper", config=cfg, executor_kind="paper")
    led = ledger_with(cash=1_000.0)
    limits.on_equity(MIDNIGHT, 1_000.0, ledger=led)
    limits.on_equity(T0, 850.0, ledger=led)  # loss 150 > 100
    assert guard.check(order(), ledger=led, price=1.0, now=T0).gate == "halted"

    # "restart": new checks from the same state dir, a new UTC day, equity recovered
    guard2, limits2 = build_checks("paper", config=cfg, executor_kind="paper")
    later = T0 + pd.Timedelta(days=3)
    limits2.on_equity(later, 2_000.0, ledger=led)
    d = guard2.check(order(), ledger=led, price=1.0, now=later)
    assert not d.allowed and d.gate == "halted" and "max_daily_loss: loss 150.00 > 100.00" in d.reason

    with pytest.raises(SafetyError, match="needs explicit confirmation"):
        guard2.kill_switch.reset(confirm=False)
    assert guard2.state is TradingState.HALTED
    guard2.kill_switch.reset(confirm=True)
    assert guard2.check(order(), ledger=led, price=1.0, now=later).allowed
    assert build_checks("paper", config=cfg, executor_kind="paper")[0].state is TradingState.ACTIVE


@pytest.mark.parametrize("content", [
    "{not json", "", "[]", '{"version": 1, "scope": "all", "state": "paused"}',
    '{"version": 1, "scope": "live", "state": "active"}', '{"version": 99, "scope": "all", "state": "active"}',
    b"\xff\xfe\x00garbage",
])
def test_kill_switch_when_state_file_corrupted_then_engaged_with_clear_message(tmp_path, content):
    path = tmp_path / "kill_switch.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    ks = KillSwitch(tmp_path, "paper")
    st = ks.status()
    assert st.state is TradingState.HALTED and st.error
    assert "unreadable" in st.describe() and "fail closed" in st.describe() and str(path) in st.describe()
    from peaktrade.safety import SafetyGuard

    d = SafetyGuard("paper", executor_kind="paper", kill_switch=ks).check(order(), ledger=ledger_with(), price=1.0,
                                                                            now=T0)
    assert not d.allowed and d.gate == "halted" and "unreadable" in d.reason
    ks.reset(confirm=True, scope="all")  # an explicit reset overwrites the bad file
    assert ks.state is TradingState.ACTIVE


def test_kill_switch_when_state_file_is_a_directory_then_engaged(tmp_path):
    (tmp_path / "kill_switch.live.json").mkdir()
    assert KillSwitch(tmp_path, "live").state is TradingState.HALTED


def test_kill_switch_when_loosening_without_confirm_then_refused(tmp_path):
    ks = KillSwitch(tmp_path, "live")
    ks.engage("stop")
    with pytest.raises(SafetyError, match="needs confirmation"):
        ks.engage("wind down", state="reducing")
    ks.engage("wind down", state="reducing", confirm=True)
    assert ks.state is TradingState.REDUCING
    ks.engage("stop again")  # tightening needs nothing
    assert ks.state is TradingState.HALTED
    with pytest.raises(SafetyError, match="use reset"):
        ks.engage("x", state="active")


def test_kill_switch_when_write_fails_then_engaged_in_memory_and_caller_told(tmp_path, monkeypatch):
    def fail(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ks_mod, "_atomic_write_json", fail)
    ks = KillSwitch(tmp_path, "paper")
    with pytest.raises(SafetyError, match="No space left on device.*engaged in memory"):
        ks.engage("breach")
    assert ks.state is TradingState.HALTED and "not persisted" in ks.status().describe()
    assert not ks.log.records[-1].allowed


def test_kill_switch_when_engaged_or_reset_then_recorded(tmp_path):
    ks = KillSwitch(tmp_path, "paper")
    ks.engage("a")
    ks.reset(confirm=True)
    assert [(r.kind, r.allowed, r.subject["action"]) for r in ks.log.records] == [
        ("state", False, "engage"), ("state", True, "reset")]


def test_kill_switch_when_scope_unknown_then_refused(tmp_path):
    with pytest.raises(SafetyError, match="scope='prod' is invalid"):
        KillSwitch(tmp_path).engage("x", scope="prod")
