"""Live gates: each one closes live trading on its own, in order, and one that cannot decide is closed.

The gates read their inputs themselves: the arming variable from this process's environment, the
readiness probe from the registry (as the exchange adapter registers it). Tests set both for real.
"""

from __future__ import annotations

import dataclasses
import os

import pytest
from safety_helpers import ALL_LIMITS, FULL_CHECKS, ArmedSwitch, ready_probe

from peaktrade.errors import ConfigError, PeakTradeError
from peaktrade.safety import (
    LIVE_GATES,
    DecisionLog,
    KillSwitch,
    LiveAuthorization,
    LiveGateClosed,
    ReadinessItem,
    ReadinessReport,
    SafetyGuard,
    arm_value,
    assert_live_allowed,
    build_checks,
    confirm_token,
    live_gates,
    register_readiness_probe,
)


@pytest.fixture
def live_cfg(make_cfg, tmp_path):
    """Return ``make(**sections)``: a config with every live gate openable (enabled, all limits set)."""

    def make(**over):
        sections = {"live": {"enabled": True}, "risk": dict(ALL_LIMITS),
                    "safety": {"state_dir": str(tmp_path / "state")}}
        for k, v in over.items():
            sections.setdefault(k, {}).update(v)
        return make_cfg(**sections)

    return make


@pytest.fixture(autouse=True)
def gate_inputs(monkeypatch):
    """Return ``set(cfg, probe=..., arm=...)``: arm this process for ``cfg`` and register ``probe`` (restored after)."""
    old = register_readiness_probe(None)

    def set_inputs(cfg, *, probe="ready", arm="ok"):
        register_readiness_probe(ready_probe() if probe == "ready" else probe)
        if arm is None:
            monkeypatch.delenv(cfg.live.arm_env, raising=False)
        else:
            monkeypatch.setenv(cfg.live.arm_env, arm_value(cfg) if arm == "ok" else arm)
        return cfg

    yield set_inputs
    register_readiness_probe(old)


def open_inputs(cfg):
    """Return the keyword inputs that open every gate of ``cfg`` (the environment and probe are set apart)."""
    return {"confirm": confirm_token(cfg)}


def test_assert_live_allowed_when_every_gate_open_then_returns_authorization_for_this_config(live_cfg, gate_inputs):
    cfg = gate_inputs(live_cfg())
    auth = assert_live_allowed(cfg, **open_inputs(cfg))
    assert isinstance(auth, LiveAuthorization) and auth.config_hash == cfg.config_hash()
    assert [g.name for g in auth.gates] == list(LIVE_GATES) and all(g.open for g in auth.gates)


def test_tokens_when_derived_then_bound_to_the_config_hash_and_state_dir(live_cfg):
    import hashlib

    from peaktrade.safety import resolved_state_dir

    cfg = live_cfg()
    binding = hashlib.sha256(f"{cfg.config_hash()}\0{resolved_state_dir(cfg)}".encode()).hexdigest()
    assert confirm_token(cfg) == "LIVE-" + binding[:8]
    assert arm_value(cfg) == binding


def _closed(cfg, **inputs):
    with pytest.raises(LiveGateClosed) as ei:
        assert_live_allowed(cfg, **{**open_inputs(cfg), **inputs})
    return ei.value


def test_gate_live_enabled_when_config_disables_live_then_alone_refuses(live_cfg, gate_inputs):
    cfg = gate_inputs(live_cfg(live={"enabled": False}))
    e = _closed(cfg)
    assert e.gate == "live_enabled" and "gate 'live_enabled' is closed" in str(e) and "enabled is false" in str(e)
    assert isinstance(e, PeakTradeError)


@pytest.mark.parametrize("value, why", [(None, "is not set"), ("", "is not set"), ("1", "not to this config's hash")])
def test_gate_live_armed_when_variable_missing_or_wrong_then_alone_refuses(live_cfg, gate_inputs, value, why):
    cfg = gate_inputs(live_cfg(), arm=value)
    e = _closed(cfg)
    assert e.gate == "live_armed" and why in str(e) and "PEAKTRADE_LIVE_ARMED" in str(e)


def test_gate_live_armed_when_armed_for_another_config_then_refuses(live_cfg, gate_inputs):
    stale = arm_value(live_cfg(risk={"max_open_positions": 3}))  # a shell armed for a different config
    cfg = gate_inputs(live_cfg(), arm=stale)
    assert stale != arm_value(cfg)
    assert _closed(cfg).gate == "live_armed"


@pytest.mark.parametrize("token", [None, "", "LIVE-00000000", "live-xyz"])
def test_gate_confirm_token_when_missing_or_wrong_then_alone_refuses(live_cfg, gate_inputs, token):
    cfg = gate_inputs(live_cfg())
    e = _closed(cfg, confirm=token)
    assert e.gate == "confirm_token" and "gate 'confirm_token' is closed" in str(e)
    assert confirm_token(cfg) not in str(e)  # the refusal does not hand out the token


def test_gate_readiness_when_no_probe_registered_then_alone_refuses(live_cfg, gate_inputs):
    e = _closed(gate_inputs(live_cfg(), probe=None))
    assert e.gate == "readiness" and "no readiness probe" in str(e)


@pytest.mark.parametrize("overrides, item", [
    ({"reachable": False}, "exchange_reachable"),
    ({"reachable": None}, "exchange_reachable"),
    ({"clock_skew_seconds": 2.01}, "clock_skew"),
    ({"clock_skew_seconds": -5.0}, "clock_skew"),
    ({"clock_skew_seconds": float("nan")}, "clock_skew"),
    ({"clock_skew_seconds": None}, "clock_skew"),
    ({"balances": None}, "balances_readable"),
    ({"balances": {"USD": float("nan")}}, "balances_readable"),
])
def test_gate_readiness_when_one_probe_item_fails_then_alone_refuses_naming_it(live_cfg, gate_inputs, overrides,
                                                                                item):
    e = _closed(gate_inputs(live_cfg(), probe=ready_probe(**overrides)))
    assert e.gate == "readiness" and f"readiness' is closed: {item}:" in str(e)


def test_gate_readiness_when_clock_skew_just_under_limit_then_open(live_cfg, gate_inputs):
    cfg = gate_inputs(live_cfg(), probe=ready_probe(clock_skew_seconds=-1.99))
    assert assert_live_allowed(cfg, **open_inputs(cfg))


def test_gate_readiness_when_kill_switch_engaged_then_alone_refuses(live_cfg, gate_inputs, tmp_path):
    cfg = gate_inputs(live_cfg())
    KillSwitch(tmp_path / "state", "live").engage("ops said stop", scope="all")
    e = _closed(cfg)
    assert e.gate == "readiness" and "kill_switch_off" in str(e) and "ops said stop" in str(e)


def test_gate_readiness_when_a_risk_limit_unset_then_alone_refuses(make_cfg, gate_inputs, tmp_path):
    limits = {k: v for k, v in ALL_LIMITS.items() if k != "max_orders_per_minute"}
    cfg = gate_inputs(make_cfg(live={"enabled": True}, risk=limits, safety={"state_dir": str(tmp_path / "s")}))
    e = _closed(cfg)
    assert e.gate == "readiness" and "risk_limits_configured: [risk] max_orders_per_minute not set" in str(e)


def test_gate_when_its_evaluation_raises_then_it_is_closed(live_cfg, gate_inputs, monkeypatch):
    def broken_probe(config):
        raise TimeoutError("exchange did not answer")

    cfg = gate_inputs(live_cfg(), probe=broken_probe)
    e = _closed(cfg)
    assert e.gate == "readiness" and "probe failed: TimeoutError: exchange did not answer" in str(e)

    class BrokenEnv(dict):
        def get(self, key, default=None):
            raise RuntimeError("environment unreadable")

    with monkeypatch.context() as m:
        m.setattr(os, "environ", BrokenEnv(os.environ))
        e = _closed(cfg)
    assert e.gate == "live_armed" and "could not be evaluated: RuntimeError: environment unreadable" in str(e)
    gate_inputs(cfg, probe=object())
    e = _closed(cfg)
    assert e.gate == "readiness" and "could not be evaluated" in str(e)


def test_live_gates_when_evaluated_then_in_fixed_order_and_first_closed_is_named(live_cfg, gate_inputs):
    cfg = gate_inputs(live_cfg(live={"enabled": False}), probe=None, arm=None)
    results = live_gates(cfg, confirm=None)
    assert [r.name for r in results] == ["live_enabled", "live_armed", "confirm_token", "readiness"]
    assert not any(r.open for r in results)
    # open the gates one by one: the refusal always names the first one still closed
    with pytest.raises(LiveGateClosed) as ei:
        assert_live_allowed(cfg, confirm=None)
    assert ei.value.gate == "live_enabled"
    cfg = gate_inputs(live_cfg(), probe=None, arm=None)
    for arm, token, gate in ((None, None, "live_armed"), ("ok", None, "confirm_token"),
                             ("ok", confirm_token(cfg), "readiness")):
        gate_inputs(cfg, probe=None, arm=arm)
        with pytest.raises(LiveGateClosed) as ei:
            assert_live_allowed(cfg, confirm=token)
        assert ei.value.gate == gate


def test_readiness_probe_when_earlier_gate_closed_then_never_called(live_cfg, gate_inputs):
    probe = ready_probe()
    cfg = gate_inputs(live_cfg(), probe=probe)
    results = live_gates(cfg, confirm=None)
    assert probe.calls == [] and results[3].detail == "exchange probe not run: gate 'confirm_token' is closed"
    live_gates(cfg, **open_inputs(cfg))
    assert len(probe.calls) == 1


def test_live_gates_when_log_given_then_every_result_recorded(live_cfg, gate_inputs, tmp_path):
    cfg = gate_inputs(live_cfg(), probe=None, arm=None)
    log = DecisionLog(tmp_path / "audit.jsonl")
    live_gates(cfg, confirm="nope", log=log)
    assert [(r.gate, r.allowed) for r in log.records] == [
        ("live_enabled", True), ("live_armed", False), ("confirm_token", False), ("readiness", False)]
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 4


def test_build_checks_live_when_not_authorized_for_this_config_then_refuses(live_cfg, gate_inputs):
    cfg = gate_inputs(live_cfg())
    with pytest.raises(LiveGateClosed, match="live_authorization"):
        build_checks("live", config=cfg, executor_kind="exchange")
    other = gate_inputs(live_cfg(risk={"max_open_positions": 2}))
    auth_other = assert_live_allowed(other, **open_inputs(other))
    with pytest.raises(LiveGateClosed, match="live_authorization"):
        build_checks("live", config=cfg, executor_kind="exchange", authorization=auth_other)
    forged = LiveAuthorization(cfg.config_hash(), "now", ())
    with pytest.raises(LiveGateClosed, match="live_authorization"):
        build_checks("live", config=cfg, executor_kind="exchange", authorization=forged)


def test_build_checks_live_when_authorized_then_guard_allows_private_api(live_cfg, gate_inputs):
    cfg = gate_inputs(live_cfg())
    auth = assert_live_allowed(cfg, **open_inputs(cfg))
    guard, limits = build_checks("live", config=cfg, executor_kind="exchange", authorization=auth)
    assert isinstance(guard, SafetyGuard) and guard.allows_private_api()
    assert guard.check_endpoint("https://api.kraken.com/0/private/AddOrder").allowed


def test_build_checks_live_when_limits_missing_then_config_error_names_them(make_cfg, tmp_path):
    cfg = make_cfg(live={"enabled": True}, safety={"state_dir": str(tmp_path / "s")})
    with pytest.raises(ConfigError, match="max_order_notional.*live environment refuses to start"):
        build_checks("live", config=cfg, executor_kind="exchange")


def test_assert_live_allowed_when_caller_hands_in_env_or_readiness_report_then_refused(live_cfg, gate_inputs):
    cfg = gate_inputs(live_cfg(), probe=None, arm=None)  # this process is not armed and has no probe
    made_up_env = {cfg.live.arm_env: arm_value(cfg)}
    report = ReadinessReport(tuple(ReadinessItem(n, True, "hand-built") for n in
                                   ("exchange_reachable", "clock_skew", "balances_readable")))
    for forged in ({"env": made_up_env}, {"readiness": report}, {"env": made_up_env, "readiness": report},
                   {"kill_switch": KillSwitch(None, "live")}):
        with pytest.raises(TypeError):
            assert_live_allowed(cfg, confirm=confirm_token(cfg), **forged)
        with pytest.raises(TypeError):
            live_gates(cfg, confirm=confirm_token(cfg), **forged)
    e = _closed(cfg)
    assert e.gate == "live_armed"  # what counts is the real process environment
    gate_inputs(cfg, probe=None)
    assert "no readiness probe" in str(_closed(cfg))  # and the registered probe, run here


def test_authorization_when_rebound_with_dataclasses_replace_then_refused_everywhere(live_cfg, gate_inputs):
    cfg = gate_inputs(live_cfg())
    auth = assert_live_allowed(cfg, **open_inputs(cfg))
    other = live_cfg(risk={"max_open_positions": 2})
    assert other.config_hash() != cfg.config_hash()
    rebound = dataclasses.replace(auth, config_hash=other.config_hash())
    with pytest.raises(LiveGateClosed, match="live_authorization"):
        build_checks("live", config=other, executor_kind="exchange", authorization=rebound)
    guard = SafetyGuard("live", executor_kind="exchange", authorization=rebound, config_hash=other.config_hash())
    assert not guard.allows_private_api()
    assert not guard.check_endpoint("https://api.kraken.com/0/private/AddOrder").allowed
    assert not guard.check_wire("AddOrder", symbol="BTC/USD", side="buy", amount=0.001).allowed
    token_copy = LiveAuthorization(other.config_hash(), auth.granted_at, auth.gates, auth.token)
    assert not SafetyGuard("live", executor_kind="exchange", authorization=token_copy,
                           config_hash=other.config_hash()).allows_private_api()
    made_up = LiveAuthorization(cfg.config_hash(), "now", auth.gates, "0" * 64)
    assert not SafetyGuard("live", executor_kind="exchange", authorization=made_up,
                           config_hash=cfg.config_hash()).allows_private_api()
    # the genuine one still works for its own config
    assert SafetyGuard("live", executor_kind="exchange", authorization=auth,
                       config_hash=cfg.config_hash()).allows_private_api()


def test_authorization_when_config_changes_after_grant_then_refused_at_use(live_cfg, gate_inputs):
    # a full authorization (a passing check list) and a dead-man switch: what a live order needs before the change
    cfg = gate_inputs(live_cfg(), probe=ready_probe(checks=FULL_CHECKS))
    auth = assert_live_allowed(cfg, **open_inputs(cfg))
    guard, _ = build_checks("live", config=cfg, executor_kind="exchange", authorization=auth)
    guard.require_deadman(ArmedSwitch())
    assert guard.check_wire("AddOrder", symbol="BTC/USD", side="buy", amount=0.001, price=100.0, reference=100.0).allowed
    cfg.risk.max_order_notional = 9e9  # the config the session runs with changed after it was authorized
    assert not guard.allows_private_api()
    d = guard.check_wire("AddOrder", symbol="BTC/USD", side="buy", amount=0.001, price=100.0, reference=100.0)
    assert not d.allowed and d.gate == "live_authorization"
    assert not guard.check_endpoint("https://api.kraken.com/0/private/AddOrder").allowed


def test_assert_live_allowed_when_made_up_env_and_report_handed_in_then_closed_gate_and_no_addorder_sent(
        live_cfg, gate_inputs):
    """The issue's reproduction, written against the old signature: the call is refused as a closed gate (a
    PeakTradeError the CLI prints in one line, and a TypeError), and no AddOrder can leave without it."""
    from peaktrade.safety import GateInputRefused

    cfg = gate_inputs(live_cfg(), probe=None, arm=None)
    made_up_env = {cfg.live.arm_env: arm_value(cfg)}
    report = ReadinessReport(tuple(ReadinessItem(n, True, "hand-built") for n in
                                   ("kill_switch_off", "risk_limits_configured", "exchange_reachable", "clock_skew",
                                    "balances_readable")))
    for forged, gate in (({"env": made_up_env, "readiness": report}, "live_armed"), ({"readiness": report}, "readiness"),
                         ({"kill_switch": KillSwitch(None, "live")}, "readiness")):
        with pytest.raises(LiveGateClosed) as ei:
            assert_live_allowed(cfg, confirm=confirm_token(cfg), **forged)
        assert isinstance(ei.value, (PeakTradeError, TypeError)) and isinstance(ei.value, GateInputRefused)
        assert ei.value.gate == gate and "not accepted" in str(ei.value) and "\n" not in str(ei.value)
    guard = SafetyGuard.from_config("live", cfg, executor_kind="exchange")
    assert not guard.check_endpoint("https://api.kraken.com/0/private/AddOrder").allowed
    assert not guard.check_wire("AddOrder", symbol="BTC/USD", side="buy", amount=0.001).allowed
