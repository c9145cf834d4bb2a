"""Orphaned orders after a stale session lock (fail closed, before the first dead-man arm): a session that
took over the lock of a dead holder of its (account, strategy, symbol) cancels that session's resting orders
and names each in the run log; without a takeover, open orders it does not own make it refuse to start.
Real HTTP against the in-process simulator."""

from __future__ import annotations

import json
import socket

import pytest
from testnet_helpers import write_testnet_config

import peaktrade.sim as sim
from peaktrade.adapters.kraken import KrakenClient
from peaktrade.config import load_config
from peaktrade.live.runlog import read_events
from peaktrade.live.testnet import TestnetError, run_testnet_session
from peaktrade.safety import KillSwitch, SafetyGuard, SessionLock


@pytest.fixture(scope="module")
def sim_server():
    ex = sim.SimExchange(keys={sim.DEFAULT_SIM_API_KEY: sim.DEFAULT_SIM_API_SECRET}, seed=5, speed=0.0, tier="pro")
    with sim.serve_in_thread(ex) as srv:
        yield srv


@pytest.fixture
def setup(sim_server, tmp_path, clean_env):
    clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(write_testnet_config(
        tmp_path, testnet={"mode": "kraken-sim", "sim_url": sim_server.url})))
    cfg = load_config()
    guard = SafetyGuard("testnet", executor_kind="exchange", kill_switch=KillSwitch(tmp_path / "ks", "testnet"))
    other = KrakenClient(guard=guard, base_url=sim_server.url, api_key=sim.DEFAULT_SIM_API_KEY,
                         api_secret=sim.DEFAULT_SIM_API_SECRET, simulator=True, rate_limit=False)
    bid = other.fetch_ticker("BTC/USD").bid
    resting = other.create_order("BTC/USD", "buy", "limit", 0.001, round(bid * 0.98, 1), client_order_id="dead-1")
    yield cfg, other, resting
    for o in other.fetch_open_orders("BTC/USD"):
        other.cancel_order(order_id=o.id, symbol="BTC/USD")


def _run(cfg):
    return run_testnet_session("fast", config=cfg, mode="kraken-sim", warmup=10, max_bars=1, duration=1,
                               handle_signals=False, poll_interval=0.05)


def test_session_when_open_orders_it_does_not_own_and_no_takeover_then_refuses_naming_them(setup):
    cfg, other, resting = setup
    with pytest.raises(TestnetError, match=f"1 open BTC/USD order.* does not own: {resting.id} \\(dead-1"):
        _run(cfg)
    assert [o.id for o in other.fetch_open_orders("BTC/USD")] == [resting.id]  # untouched


def test_session_when_lock_taken_over_from_dead_holder_then_its_orphans_cancelled_and_logged(setup):
    cfg, other, resting = setup
    with SessionLock.for_session(cfg, "testnet", strategy="ma_crossover", symbol="BTC/USD", run_id="x") as lock:
        path = lock.path  # released (emptied) here: then left behind by a "dead" holder below
    path.write_text(json.dumps({"pid": 999_999_999, "host": socket.gethostname(), "run_id": "dead-run"}))
    res = _run(cfg)
    assert other.fetch_open_orders("BTC/USD") == []
    ev = [e["payload"] for e in read_events(res.run_dir) if e["payload"].get("event") == "orphan_order_cancelled"]
    assert [(e["order_id"], e["client_order_id"]) for e in ev] == [(resting.id, "dead-1")]
    assert ev[0]["dead_session"]["run_id"] == "dead-run"
