"""`peaktrade testnet smoke` (issue 17, item 7): the whole stack in one command against the simulator, pass / fail
/ skip per step; a failing step fails the command (exit 1) and the other steps still run; nothing is placed."""

from __future__ import annotations

import json

import pytest
from testnet_helpers import write_testnet_config

from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, SimExchange, serve_in_thread, synthetic_feeds
from peaktrade.sim._faults import Fault


@pytest.fixture(scope="module")
def srv():
    ex = SimExchange(keys={DEFAULT_SIM_API_KEY: DEFAULT_SIM_API_SECRET}, feeds=synthetic_feeds(seed=2, n=800),
                     speed=0.0, tier="pro")
    with serve_in_thread(ex) as s:
        yield s


def test_testnet_smoke_when_simulator_healthy_then_every_step_passes_and_nothing_is_placed(cli, srv, tmp_path,
                                                                                         clean_env):
    cfg = write_testnet_config(tmp_path, testnet={"sim_url": srv.url})
    r = cli("--config", str(cfg), "testnet", "smoke", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    steps = {s["name"]: s for s in json.loads(r.stdout)["steps"]}
    assert list(steps) == ["ping", "markets", "balance", "validate_only_order", "cancel_all", "dead_man_switch",
                           "alert"]
    assert all(steps[n]["status"] == "pass" for n in list(steps)[:-1]), steps
    assert steps["alert"]["status"] == "skip" and "PEAKTRADE_ALERT_URLS" in steps["alert"]["reason"]
    assert "(not placed)" in steps["validate_only_order"]["reason"] and not srv.exchange.orders
    assert srv.exchange.deadman_trigger is None  # armed, checked, then disarmed: nothing relies on it
    assert steps["dead_man_switch"]["reason"].endswith("then disarmed")


def test_testnet_smoke_when_balance_unreadable_then_that_step_fails_others_run_and_exit_1(cli, srv, tmp_path,
                                                                                         clean_env):
    cfg = write_testnet_config(tmp_path, testnet={"sim_url": srv.url})
    srv.exchange.faults.add(Fault("http_error", frozenset({"BalanceEx"}), count=4, status=403))
    r = cli("--config", str(cfg), "testnet", "smoke")
    assert r.exit_code == 1
    lines = {ln.split()[0]: ln.split()[1] for ln in r.stdout.splitlines() if ln.strip()}
    assert lines["balance"] == "FAIL" and lines["markets"] == "PASS" and lines["dead_man_switch"] == "PASS"


def test_testnet_smoke_when_a_session_of_the_account_holds_a_lock_then_account_wide_steps_skipped(cli, srv, tmp_path,
                                                                                                 clean_env):
    from peaktrade.adapters.kraken import KrakenClient
    from peaktrade.config import load_config
    from peaktrade.safety import KillSwitch, SafetyGuard, SessionLock

    path = write_testnet_config(tmp_path, testnet={"sim_url": srv.url})
    guard = SafetyGuard("testnet", executor_kind="exchange", kill_switch=KillSwitch(tmp_path / "ks", "testnet"))
    other = KrakenClient(guard=guard, base_url=srv.url, api_key=DEFAULT_SIM_API_KEY, api_secret=DEFAULT_SIM_API_SECRET,
                         simulator=True, rate_limit=False)
    other.cancel_all_orders_after(600)  # the running session's switch
    trigger = srv.exchange.deadman_trigger
    resting = other.create_order("BTC/USD", "buy", "limit", 0.001, round(other.fetch_ticker("BTC/USD").bid * 0.97, 1),
                                 client_order_id="running-1")
    with SessionLock.for_session(load_config(path), "testnet", strategy="ma_crossover", symbol="BTC/USD",
                                 run_id="running-run"):
        r = cli("--config", str(path), "testnet", "smoke", "--json")
    try:
        steps = {s["name"]: s for s in json.loads(r.stdout)["steps"]}
        for name in ("cancel_all", "dead_man_switch"):
            assert steps[name]["status"] == "skip", steps[name]
            assert "a session of this account is running (pid " in steps[name]["reason"]
            assert "run running-run" in steps[name]["reason"]
        assert [o.id for o in other.fetch_open_orders("BTC/USD")] == [resting.id]  # not cancelled
        assert srv.exchange.deadman_trigger == trigger  # neither re-armed nor disarmed
    finally:
        other.cancel_order(order_id=resting.id, symbol="BTC/USD")
        other.cancel_all_orders_after(0)
