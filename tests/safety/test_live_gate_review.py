"""The attacker's review of the live runner (issue 17): each way around the live gates it found, closed at the
mechanism and proven against the simulator standing in for the venue (AddOrder requests counted at the simulator):
a state dir moved by an environment variable, a permissive readiness probe, an authorization judged at another venue,
a skipped readiness check, and `safety cancel-all` without an environment."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from safety_helpers import FULL_CHECKS, ArmedSwitch, counting_sim, ready_probe

from peaktrade.config import load_config
from peaktrade.live.readiness import simulator_stand_in
from peaktrade.live.runner import LiveRunError, live_client, run_live_session
from peaktrade.safety import (
    KillSwitch,
    LiveGateClosed,
    ProbeResult,
    arm_value,
    assert_live_allowed,
    build_checks,
    confirm_token,
    register_readiness_probe,
)
from peaktrade.safety._live import probe_readiness
from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, SimExchange, synthetic_feeds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "live"))
from testnet_helpers import write_testnet_config  # noqa: E402

CASH = 10_000.0
SESSION = dict(symbol="BTC/USD", timeframe="1m", order_notional=50.0, params={"fast": 2, "slow": 4}, warmup=30,
               catch_up=40, max_bars=40, handle_signals=False, poll_interval=0.05)


@pytest.fixture(scope="module")
def srv():
    """One simulator for the module; ``requests`` lists every method it answered, ``arrived`` every AddOrder."""
    ex = SimExchange(keys={DEFAULT_SIM_API_KEY: DEFAULT_SIM_API_SECRET}, feeds=synthetic_feeds(seed=3, n=800),
                     start=time.time(), speed=1 / 60, tier="pro", balances={"ZUSD": CASH})
    with counting_sim(ex) as s:
        yield s


@pytest.fixture
def live(srv, tmp_path, clean_env):
    """Return ``make(state_dir_in_config=True)``: a live config (every limit, live credentials, this process armed
    for it) with the simulator standing in for the venue; no alert destination. Reset after the test."""
    clean_env.setenv("KRAKEN_API_KEY", "live-key-not-a-sim-key")
    clean_env.setenv("KRAKEN_API_SECRET", "bGl2ZS1zZWNyZXQ=")
    clean_env.delenv("PEAKTRADE_ALERT_URLS", raising=False)
    old_probe = register_readiness_probe(None)

    def make(*, state_dir_in_config: bool = True):
        path = write_testnet_config(tmp_path)
        text = path.read_text().replace("[live]\nenabled = false", "[live]\nenabled = true")
        if not state_dir_in_config:  # the shipped config: the state dir comes from the environment
            text = re.sub(r"(?m)^state_dir = .*\n", "", text)
        path.write_text(text)
        clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(path))
        cfg = load_config(path)
        clean_env.setenv(cfg.live.arm_env, arm_value(cfg))
        return cfg

    with simulator_stand_in(srv.url, api_key=DEFAULT_SIM_API_KEY, api_secret=DEFAULT_SIM_API_SECRET):
        srv.requests.clear()
        srv.arrived.clear()
        yield make
    register_readiness_probe(old_probe)
    srv.exchange.call("CancelAll")
    srv.exchange.call("CancelAllOrdersAfter", timeout=0)
    srv.exchange.set_balances({"XXBT": 0.0, "ZUSD": CASH})


def _buy(client):
    return client.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="review-1", position=0.0,
                               decision_price=float(client.fetch_ticker("BTC/USD").mid))


# -- 1: the state dir is part of what arming and confirming bind ------------------------------------------------
def test_live_run_when_state_dir_moved_by_env_away_from_engaged_switch_then_refused_and_nothing_sent(
        live, srv, tmp_path, clean_env):
    clean_env.setenv("PEAKTRADE_STATE_DIR", str(tmp_path / "state-a"))
    cfg = live(state_dir_in_config=False)
    token = confirm_token(cfg)
    KillSwitch(cfg.state_dir, "live").engage("incident")
    clean_env.setenv("PEAKTRADE_STATE_DIR", str(tmp_path / "state-b"))  # an empty dir: no switch, no ramp, no lock
    moved = load_config()
    assert moved.config_hash() == cfg.config_hash() and confirm_token(moved) != token  # the hash alone did not bind it
    with pytest.raises(LiveGateClosed, match=r"live_armed.*state-b"):
        run_live_session("ma_crossover", config=moved, confirm=token, **SESSION)
    assert srv.requests == [] and srv.arrived == []


def test_guard_when_state_dir_moved_after_authorization_then_every_order_and_private_request_refused(
        live, tmp_path, clean_env):
    clean_env.setenv("PEAKTRADE_STATE_DIR", str(tmp_path / "state-a"))
    cfg = live(state_dir_in_config=False)
    register_readiness_probe(ready_probe())
    auth = assert_live_allowed(cfg, confirm=confirm_token(cfg))
    guard, _limits = build_checks("live", config=cfg, executor_kind="exchange", authorization=auth)
    url = "https://api.kraken.com/0/private/Balance"
    assert guard.check_endpoint(url).allowed
    clean_env.setenv("PEAKTRADE_STATE_DIR", str(tmp_path / "state-b"))
    d = guard.check_endpoint(url)
    assert not d.allowed and d.gate == "live_authorization"


# -- 2: a permissive probe grants reduce-only, and live orders need a dead-man switch -------------------------
def test_live_order_when_authorized_by_a_probe_without_the_readiness_list_then_refused_at_the_wire(live, srv):
    cfg = live()
    register_readiness_probe(ready_probe(venue=srv.url))  # says ready, runs no check list
    auth = assert_live_allowed(cfg, confirm=confirm_token(cfg))
    assert auth.full is False
    guard, _limits = build_checks("live", config=cfg, executor_kind="exchange", authorization=auth)
    client, guard, _where = live_client(cfg, guard, auth=auth)
    assert guard.reduce_only
    with pytest.raises(Exception, match="reduce_only"):
        _buy(client)
    d = guard.check_wire("AddOrder", client_order_id="r", symbol="BTC/USD", side="sell", amount=0.5, position=1.0,
                         price=100.0, reference=100.0)
    assert d.allowed  # a reducing order still passes (flatten keeps working)
    assert srv.arrived == []


def test_live_order_when_no_deadman_switch_attached_then_refused_and_when_armed_then_allowed(live):
    cfg = live()
    # a probe reporting a (passing) check list grants a full authorization; the wire still needs a dead-man switch
    register_readiness_probe(ready_probe(checks=FULL_CHECKS))
    auth = assert_live_allowed(cfg, confirm=confirm_token(cfg))
    assert auth.full is True
    guard, _limits = build_checks("live", config=cfg, executor_kind="exchange", authorization=auth)
    wire = dict(client_order_id="b", symbol="BTC/USD", side="buy", amount=0.001, position=0.0, price=100.0,
                reference=100.0)
    d = guard.check_wire("AddOrder", **wire)
    assert not d.allowed and d.gate == "deadman" and "no dead-man switch" in d.reason

    guard.require_deadman(ArmedSwitch())
    assert guard.check_wire("AddOrder", **wire).allowed


# -- 3: an authorization is bound to the venue readiness judged ---------------------------------------------
def test_live_client_when_authorization_judged_at_stand_in_used_after_it_left_then_refused(live, srv):
    cfg = live()
    register_readiness_probe(ready_probe(venue=srv.url))
    auth = assert_live_allowed(cfg, confirm=confirm_token(cfg))
    guard, _limits = build_checks("live", config=cfg, executor_kind="exchange", authorization=auth)
    d = guard.check_endpoint("https://api.kraken.com/0/private/AddOrder")
    assert not d.allowed and d.gate == "live_venue" and "127.0.0.1" in d.reason
    client, g, _ = live_client(cfg, guard, auth=auth)  # the stand-in readiness judged: only its host
    assert g.check_endpoint(f"{srv.url}/0/private/Balance").allowed
    assert not g.check_endpoint("https://api.kraken.com/0/private/AddOrder").allowed
    assert srv.arrived == []


def test_live_client_when_stand_in_left_after_readiness_then_refused(srv, tmp_path, clean_env):
    clean_env.setenv("KRAKEN_API_KEY", "live-key-not-a-sim-key")
    clean_env.setenv("KRAKEN_API_SECRET", "bGl2ZS1zZWNyZXQ=")
    path = write_testnet_config(tmp_path)
    path.write_text(path.read_text().replace("[live]\nenabled = false", "[live]\nenabled = true"))
    cfg = load_config(path)
    clean_env.setenv(cfg.live.arm_env, arm_value(cfg))
    old = register_readiness_probe(ready_probe(venue=srv.url))
    try:
        with simulator_stand_in(srv.url, api_key=DEFAULT_SIM_API_KEY, api_secret=DEFAULT_SIM_API_SECRET):
            auth = assert_live_allowed(cfg, confirm=confirm_token(cfg))
    finally:
        register_readiness_probe(old)
    guard, _limits = build_checks("live", config=cfg, executor_kind="exchange", authorization=auth)
    with pytest.raises(LiveRunError, match="no longer stands in"):
        live_client(cfg, guard, auth=auth)
    assert not guard.check_endpoint("https://api.kraken.com/0/private/AddOrder").allowed


# -- 5: a skipped readiness check fails live readiness (except what the venue cannot report) -----------------
def test_probe_readiness_when_a_check_skipped_then_fails_except_withdrawal_permission(live):
    cfg = live()

    def judged(*checks):
        report = probe_readiness(cfg, lambda c: ProbeResult(reachable=True, clock_skew_seconds=0.0, balances={},
                                                            checks=checks))
        return next(i for i in report.items if i.name == "readiness_checks")

    ok = ("venue", "pass", "ok")
    assert judged(ok, ("withdrawal_permission", "skip", "Kraken cannot report it")).ok
    item = judged(ok, ("alert", "skip", "no alert destinations"))
    assert not item.ok and "alert: skipped: no alert destinations" in item.detail


def test_live_run_when_alert_check_skipped_then_readiness_closed_and_no_order_sent(live, srv):
    cfg = live()  # PEAKTRADE_ALERT_URLS unset: the readiness list skips its alert check
    with pytest.raises(LiveGateClosed, match="readiness.*alert: skipped"):
        run_live_session("ma_crossover", config=cfg, confirm=confirm_token(cfg), **SESSION)
    assert srv.arrived == [] and "AddOrder" not in srv.requests


# -- 7: cancel-all names its venue ----------------------------------------------------------------------------
def test_safety_cancel_all_when_environment_not_given_then_refused_and_nothing_cancelled(cli, live, srv):
    live()
    ex = srv.exchange
    assert ex.call("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", price="1000", volume="0.001")["error"] == []
    srv.requests.clear()
    r = cli("safety", "cancel-all")
    assert r.exit_code == 2 and "--environment" in r.stderr and r.stdout == "", r
    assert "CancelAll" not in srv.requests and len(ex.call("OpenOrders")["result"]["open"]) == 1
