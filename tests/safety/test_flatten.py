"""`peaktrade safety flatten` (issue 17 item 8, the degrade ladder's last step): against the simulator (testnet, and
standing in for the live venue) a held position is flattened to zero base; a closed live gate sends nothing; the
reduce-only guard refuses at the wire an order that would flip a position, also when called directly from Python."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from safety_helpers import T0, counting_sim, ledger_with, order

from peaktrade.adapters.errors import EndpointDenied
from peaktrade.config import load_config
from peaktrade.live.readiness import simulator_stand_in
from peaktrade.live.runner import flatten_client
from peaktrade.safety import KillSwitch, SafetyGuard, arm_value, confirm_token, register_readiness_probe
from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, SimExchange, synthetic_feeds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "live"))
from testnet_helpers import write_testnet_config  # noqa: E402

CASH, HELD = 10_000.0, 0.05


@pytest.fixture(scope="module")
def srv():
    ex = SimExchange(keys={DEFAULT_SIM_API_KEY: DEFAULT_SIM_API_SECRET}, feeds=synthetic_feeds(seed=5, n=400),
                     start=time.time(), speed=1 / 60, tier="pro", balances={"ZUSD": CASH})
    with counting_sim(ex) as s:
        yield s


@pytest.fixture
def venue(srv, tmp_path, clean_env):
    """Return ``make(enabled=True, arm=True)``: a config whose testnet simulator and live stand-in are ``srv``, the
    account holding ``HELD`` BTC and one resting order; the simulator is reset after the test."""
    clean_env.setenv("KRAKEN_API_KEY", "live-key-not-a-sim-key")
    clean_env.setenv("KRAKEN_API_SECRET", "bGl2ZS1zZWNyZXQ=")
    old_probe = register_readiness_probe(None)
    ex = srv.exchange

    def make(*, enabled=True, arm=True):
        path = write_testnet_config(tmp_path, testnet={"sim_url": srv.url})
        path.write_text(path.read_text().replace("[live]\nenabled = false", f"[live]\nenabled = {str(enabled).lower()}"))
        clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(path))
        cfg = load_config(path)
        if arm:
            clean_env.setenv(cfg.live.arm_env, arm_value(cfg))
        ex.set_balances({"XXBT": HELD, "ZUSD": CASH})
        assert ex.call("AddOrder", pair="XBTUSD", type="sell", ordertype="limit", price="10000000",
                       volume=str(HELD))["error"] == []  # resting: it holds the whole position
        srv.arrived.clear()
        return cfg

    with simulator_stand_in(srv.url, api_key=DEFAULT_SIM_API_KEY, api_secret=DEFAULT_SIM_API_SECRET):
        yield make
    register_readiness_probe(old_probe)
    ex.call("CancelAll")
    ex.set_balances({"XXBT": 0.0, "ZUSD": CASH})


def _venue(srv) -> tuple[float, float, int]:
    ex = srv.exchange
    bal = ex.call("Balance")["result"]
    return float(bal["ZUSD"]), float(bal.get("XXBT", 0.0)), len(ex.call("OpenOrders")["result"]["open"])


@pytest.mark.parametrize("environment", ["testnet", "live"])
def test_safety_flatten_when_position_held_and_switch_halted_then_orders_cancelled_and_base_back_to_zero(
        cli, venue, srv, environment):
    cfg = venue()
    KillSwitch(cfg.state_dir, None).engage("incident", scope="all")  # the ladder's step 3 came first
    extra = ("--confirm", confirm_token(cfg)) if environment == "live" else ()
    r = cli("safety", "flatten", "--environment", environment, *extra)
    assert r.exit_code == 0, r
    cash, btc, n_open = _venue(srv)
    assert btc == pytest.approx(0.0, abs=1e-12) and n_open == 0 and cash > CASH  # sold at the venue
    assert len(srv.arrived) == 1 and srv.arrived[0]["type"] == "sell" and float(srv.arrived[0]["volume"]) == HELD
    assert r.stdout.startswith("1 open orders cancelled at ")
    assert f"BTC/USD: position {HELD:g} → 0: filled" in r.stdout


@pytest.mark.parametrize(("kw", "gate"), [({"enabled": False}, "live_enabled"), ({"arm": False}, "live_armed"),
                                          ({}, "confirm_token")])
def test_safety_flatten_when_a_live_gate_is_closed_then_nothing_is_sent(cli, venue, srv, kw, gate):
    cfg = venue(**kw)
    confirm = () if gate == "confirm_token" else ("--confirm", confirm_token(cfg))
    r = cli("safety", "flatten", "--environment", "live", *confirm)
    assert r.exit_code == 2 and f"gate '{gate}' is closed" in r.stderr and "Traceback" not in r.stderr, r
    assert srv.arrived == [] and _venue(srv)[1:] == (HELD, 1)  # no order, nothing cancelled


def test_flatten_client_when_order_would_flip_or_is_unknown_then_refused_before_the_wire(venue, srv):
    cfg = venue()
    client, checks, _ = flatten_client(cfg, environment="live", confirm=confirm_token(cfg))
    client.cancel_all_orders()
    for kw in ({"position": HELD, "amount": 2 * HELD}, {"position": -HELD, "amount": HELD},
               {"position": None, "amount": HELD}):  # flips; grows a short; position unknown
        with pytest.raises(EndpointDenied, match="reduce_only"):
            client.create_order("BTC/USD", "sell", "market", kw["amount"], client_order_id=f"t-{len(srv.arrived)}-"
                                f"{kw['amount']}-{kw['position']}", position=kw["position"])
    assert srv.arrived == []
    # the pipeline's check too: an order growing the position, or not marked reduce-only, is denied there
    guard, held = checks[0], ledger_with(BTC_USD=(HELD, 30_000.0))
    for req in (order("buy", HELD, reduce_only=True), order("sell", HELD)):
        d = guard.check(req, ledger=held, price=30_000.0, now=T0)
        assert not d.allowed and d.gate == "reduce_only", d
    assert guard.check(order("sell", HELD, reduce_only=True), ledger=held, price=30_000.0, now=T0).allowed
    # the reduce-only live authorization makes any guard that holds it reduce-only: no way around it from Python
    auth = checks[0].authorization
    plain = SafetyGuard.from_config("live", cfg, executor_kind="exchange", authorization=auth)
    assert plain.reduce_only and auth.reduce_only
    d = plain.check_wire("AddOrder", symbol="BTC/USD", side="sell", amount=2 * HELD, position=HELD, price=1.0,
                         reference=1.0)
    assert not d.allowed and d.gate == "reduce_only"
    import dataclasses

    stripped = dataclasses.replace(auth, reduce_only=False)
    assert not SafetyGuard.from_config("live", cfg, executor_kind="exchange", authorization=stripped
                                       ).check_wire("AddOrder", symbol="BTC/USD", side="sell", amount=HELD,
                                                    position=HELD, price=1.0, reference=1.0).allowed
    assert srv.arrived == []
