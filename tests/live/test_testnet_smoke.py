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
    assert srv.exchange.deadman_trigger is not None


def test_testnet_smoke_when_balance_unreadable_then_that_step_fails_others_run_and_exit_1(cli, srv, tmp_path,
                                                                                         clean_env):
    cfg = write_testnet_config(tmp_path, testnet={"sim_url": srv.url})
    srv.exchange.faults.add(Fault("http_error", frozenset({"BalanceEx"}), count=4, status=403))
    r = cli("--config", str(cfg), "testnet", "smoke")
    assert r.exit_code == 1
    lines = {ln.split()[0]: ln.split()[1] for ln in r.stdout.splitlines() if ln.strip()}
    assert lines["balance"] == "FAIL" and lines["markets"] == "PASS" and lines["dead_man_switch"] == "PASS"
