"""Reconcile on start and resume after a crash (issue 17, item 3): a testnet session process placing orders
against the simulator (real HTTP) is killed with SIGKILL while an order is in flight; ``peaktrade runs resume``
rebuilds its ledger from the run log, books the fill the venue made while it was down, continues under the same
run id, and its books equal the venue's: no order sent twice, no fill booked twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from testnet_helpers import write_testnet_config

import peaktrade.sim as sim
from peaktrade.adapters.kraken.client import kraken_cl_ord_id
from peaktrade.live.runlog import read_events, read_meta

_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
_MAIN = "import sys; from peaktrade.cli.main import main; sys.exit(main(sys.argv[1:]))"
HANG_AT = 3  # the session's third order is in flight (held by the venue) when the process is killed
HANG_S = 1.5


@pytest.fixture(scope="module")
def venue():
    """The simulator (frozen clock), whose HANG_AT-th AddOrder is held HANG_S before it is applied."""
    ex = sim.SimExchange(keys={sim.DEFAULT_SIM_API_KEY: sim.DEFAULT_SIM_API_SECRET}, seed=5, speed=0.0, tier="pro")
    orig, seen, applied = ex.handle_private, [0], threading.Event()

    def handle_private(method, *a, **kw):
        held = False
        if method == "AddOrder":
            seen[0] += 1
            held = seen[0] == HANG_AT
            if held:
                time.sleep(HANG_S)  # the order reaches the book after its sender is dead
        try:
            return orig(method, *a, **kw)
        finally:
            if held:
                applied.set()

    ex.handle_private = handle_private
    with sim.serve_in_thread(ex) as srv:
        srv.held_applied, srv.add_orders = applied, seen
        yield srv


def _venue_balances(ex) -> tuple[float, float]:
    st = ex.state()["balances"]
    return float(st["XXBT"]), float(st["ZUSD"])


def test_resume_when_session_killed_with_an_order_in_flight_then_ledger_equals_venue_and_nothing_twice(
        venue, tmp_path, clean_env, cli):
    cfg_path = write_testnet_config(tmp_path, testnet={"mode": "kraken-sim", "sim_url": venue.url})
    clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(cfg_path))
    env = {**_ENV, "PEAK_TRADE_CONFIG_PATH": str(cfg_path)}
    session = subprocess.Popen([sys.executable, "-c", _MAIN, "testnet", "orchestrate", "--profile", "fast",
                                "--warmup", "10", "--catch-up", "60", "--max-bars", "60", "--poll", "0.05"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    runs = tmp_path / "runs"
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:  # the third order has reached the venue, which holds it
            if venue.add_orders[0] >= HANG_AT:
                break
            assert session.poll() is None, session.stderr.read()
            time.sleep(0.02)
        else:
            pytest.fail("the session placed no third order")
        session.send_signal(signal.SIGKILL)
        session.wait(timeout=30)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait(timeout=30)
        session.stderr.close()
    run_dir = next(runs.glob("*/events.jsonl")).parent
    assert venue.held_applied.wait(10)  # the in-flight order reached the book after the kill
    dead = read_events(run_dir)
    assert len(dead.of_type("order")) == HANG_AT and len(dead.of_type("fill")) == HANG_AT - 1
    assert read_meta(run_dir)["status"] == "running"  # the dead process wrote no end: the run is crashed

    left = 60 - len(dead.of_type("bar"))  # the catch-up bars the dead process did not reach
    r = cli("runs", "resume", run_dir.name, "--warmup", "10", "--poll", "0.05", "--max-bars", str(left))
    assert r.exit_code == 0, r.stderr + r.stdout
    assert f"testnet run {run_dir.name} resumed: completed" in r.stdout
    assert "mlflow run" in r.stdout and "mlflow run                -" not in r.stdout  # the whole run is tracked

    log = read_events(run_dir)
    starts = [e["payload"] for e in log.of_type("session") if e["payload"].get("event") == "start"]
    assert len(starts) == 2 and starts[1]["resumed_from"] == "crashed" and starts[1]["stale_lock"]
    resumed = next(e["payload"] for e in log.of_type("session") if e["payload"].get("event") == "resumed")
    assert resumed["fills_booked"] == 1 and resumed["absent"] == [] and resumed["adopted_open"] == []
    seqs = [e["seq"] for e in log.events]
    assert seqs == list(range(1, len(seqs) + 1))  # one log, appended in order

    # no order twice: every venue order is one order event of the run, each client order id once
    orders = [e["payload"]["client_order_id"] for e in log.of_type("order")]
    assert len(orders) > HANG_AT and len(set(orders)) == len(orders)
    ex = venue.exchange
    at_venue = list(ex.orders.values())
    assert sorted(o.cl_ord_id for o in at_venue) == sorted(kraken_cl_ord_id(c) for c in orders)
    # no fill twice: what the log booked per order is what the venue executed
    booked: dict[str, float] = {}
    for e in log.of_type("fill"):
        booked[kraken_cl_ord_id(e["payload"]["client_order_id"])] = \
            booked.get(kraken_cl_ord_id(e["payload"]["client_order_id"]), 0.0) + e["payload"]["quantity"]
    assert {o.cl_ord_id: pytest.approx(o.vol_exec, abs=1e-9) for o in at_venue} == booked

    # ledger == venue: position = the base balance's change, cash change = the quote's change (cent rounding)
    meta = read_meta(run_dir)
    s = meta["summary"]
    assert meta["status"] == "completed" and len(meta["resumes"]) == 1
    assert s["bars"] == 60 and len(log.of_type("bar")) == 60 == len(log.of_type("equity"))  # each bar once
    btc0, usd0 = starts[0]["reconcile"]["balances"]["BTC"], starts[0]["reconcile"]["balances"]["USD"]
    btc, usd = _venue_balances(ex)
    assert s["position"] == pytest.approx(btc - btc0, abs=1e-8)
    assert s["cash"] - s["initial_cash"] == pytest.approx(usd - usd0, abs=0.01 * len(booked))
    assert s["n_orders"] == len(orders) and s["n_fills"] == len(log.of_type("fill"))
