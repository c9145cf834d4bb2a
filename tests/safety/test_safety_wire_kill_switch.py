"""The kill switch at the last step before the wire (issue 9, item 5): every order-placing call of the
client asks the guard at its transport, on every attempt; halted denies, reducing lets only provably
exposure-reducing orders through (unknown counts as increasing), cancels always pass. Real HTTP against
the local simulator; the simulator's AddOrder handler counts what actually arrived."""

from __future__ import annotations

import pandas as pd
import pytest
from safety_helpers import ALL_LIMITS, counting_sim, ledger_with, order

from peaktrade.adapters.errors import EndpointDenied
from peaktrade.adapters.kraken import KrakenClient
from peaktrade.safety import KillSwitch, SafetyGuard, TradingState
from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, SimExchange


@pytest.fixture
def sim():
    """A simulator whose AddOrder handler records every order request that reached it (validate-only too)."""
    with counting_sim(SimExchange(keys={DEFAULT_SIM_API_KEY: DEFAULT_SIM_API_SECRET}, seed=3, speed=0.0,
                                  tier="pro")) as srv:
        yield srv


@pytest.fixture
def setup(sim, tmp_path):
    switch = KillSwitch(tmp_path / "state", "testnet")
    guard = SafetyGuard("testnet", executor_kind="exchange", kill_switch=switch)
    client = KrakenClient(guard=guard, base_url=sim.url, api_key=DEFAULT_SIM_API_KEY, simulator=True,
                          api_secret=DEFAULT_SIM_API_SECRET, rate_limit=False, sleep=lambda s: None)
    return switch, guard, client


def test_create_order_when_halted_then_nothing_reaches_the_venue_and_cancels_still_pass(sim, setup):
    switch, guard, c = setup
    below = round(c.fetch_ticker("BTC/USD").bid * 0.97, 1)  # rests (3 % under the bid), inside the price collar
    resting = c.create_order("BTC/USD", "buy", "limit", 0.001, below, client_order_id="pt-rest-1")
    assert len(sim.arrived) == 1 and resting.status == "open"
    switch.engage("incident 7")
    with pytest.raises(EndpointDenied, match="halted: kill switch") as ei:
        c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-halt-1")
    assert "incident 7" in str(ei.value)
    with pytest.raises(EndpointDenied, match="halted"):  # a raw ccxt call skips create_order: the transport asks
        c._ex.create_order("BTC/USD", "market", "sell", 0.001, None, {"clientOrderId": "pt-raw-1"})
    with pytest.raises(EndpointDenied, match="halted"):  # validate-only orders are orders too
        KrakenClient(guard=guard, base_url=sim.url, api_key=DEFAULT_SIM_API_KEY, api_secret=DEFAULT_SIM_API_SECRET,
                     rate_limit=False, validate_only=True, simulator=True).create_order(
            "BTC/USD", "buy", "market", 0.001, client_order_id="pt-val-1")
    assert len(sim.arrived) == 1  # only the order placed before the switch
    c.cancel_order(order_id=resting.id, symbol="BTC/USD")  # cancels always pass
    assert sim.exchange.orders[resting.id].status == "canceled"
    wire = [d for d in guard.decisions if d.kind == "wire"]
    assert [d.allowed for d in wire if d.gate == "halted"] and all(not d.allowed for d in wire if d.gate == "halted")


def test_create_order_when_reducing_then_only_provably_reducing_orders_are_sent(sim, setup):
    switch, guard, c = setup
    switch.engage("daily loss", state=TradingState.REDUCING)
    for side, amount, position in (("buy", 0.001, None), ("sell", 0.001, None), ("buy", 0.001, 0.002),
                                   ("sell", 0.003, 0.002), ("sell", 0.001, 0.0), ("buy", 0.001, 0.0)):
        with pytest.raises(EndpointDenied, match="reducing"):
            c.create_order("BTC/USD", side, "market", amount, client_order_id=f"pt-r-{side}-{amount}-{position}",
                           position=position)
    assert sim.arrived == []
    o = c.create_order("BTC/USD", "sell", "market", 0.001, client_order_id="pt-r-ok", position=0.002)
    assert len(sim.arrived) == 1 and o.id in sim.exchange.orders
    o = c.create_order("BTC/USD", "buy", "market", 0.002, client_order_id="pt-r-ok2", position=-0.002)
    assert len(sim.arrived) == 2


def test_create_order_when_pipeline_guard_approved_a_reducing_order_then_its_client_id_passes_the_wire(sim, setup):
    switch, guard, c = setup
    switch.engage("reduce", state=TradingState.REDUCING)
    now = pd.Timestamp("2024-01-02", tz="UTC")
    exit_ = order("sell", 0.001, client_order_id="pt-exit-1")
    assert guard.check(exit_, ledger=ledger_with(BTC_USD=(0.002, 100.0)), price=100.0, now=now).allowed
    c.create_order("BTC/USD", "sell", "market", 0.001, client_order_id="pt-exit-1")  # no position: the guard knows
    assert len(sim.arrived) == 1
    with pytest.raises(EndpointDenied, match="reducing"):  # same id, larger or other side: not what was approved
        c.create_order("BTC/USD", "sell", "market", 0.005, client_order_id="pt-exit-1")
    entry = order("buy", 0.001, client_order_id="pt-entry-1")
    assert not guard.check(entry, ledger=ledger_with(), price=100.0, now=now).allowed
    with pytest.raises(EndpointDenied, match="reducing"):
        c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-entry-1")
    assert len(sim.arrived) == 1


def test_create_order_when_switch_engaged_between_retries_then_the_retry_is_not_sent(sim, setup):
    """The switch is read at the transport on every attempt, not once per call."""
    from peaktrade.adapters.kraken import RetryPolicy
    from peaktrade.sim import Fault

    switch, guard, _ = setup
    engaged = []

    def sleep(s):
        if not engaged:
            engaged.append(switch.engage("engaged during the backoff"))

    c = KrakenClient(guard=guard, base_url=sim.url, api_key=DEFAULT_SIM_API_KEY, api_secret=DEFAULT_SIM_API_SECRET,
                     rate_limit=False, sleep=sleep, simulator=True, order_deadline=None,
                     retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01))
    sim.exchange.faults.add(Fault("unavailable", frozenset({"AddOrder"})))  # first attempt: not handled
    with pytest.raises(EndpointDenied, match="halted: kill switch"):  # the re-send after reconciling is refused
        c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-retry-1")
    assert engaged and sim.arrived == [] and not sim.exchange.orders
    assert any(d.kind == "wire" and not d.allowed and d.gate == "halted" for d in guard.decisions)


def test_smoke_order_cli_when_kill_switch_on_then_refused_and_no_order_sent(cli, make_cfg, sim, tmp_path):
    make_cfg(risk=ALL_LIMITS, testnet={"mode": "kraken-sim", "sim_url": sim.url},
             safety={"state_dir": str(tmp_path / "st")})
    assert cli("kill-switch", "on", "--scope", "testnet", "--reason", "ops said stop").exit_code == 0
    r = cli("testnet", "smoke-order", "--mode", "kraken-sim")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "halted" in r.stderr, r
    assert sim.arrived == []
    assert cli("kill-switch", "off", "--scope", "testnet", "--confirm").exit_code == 0
    r = cli("testnet", "smoke-order", "--mode", "kraken-sim")
    assert r.exit_code == 0 and len(sim.arrived) == 1 and sim.arrived[0].get("validate") == "true", r


@pytest.mark.parametrize("method", ["addorder", "ADDORDER", "editOrder"])
def test_raw_request_when_halted_and_placing_method_in_other_letter_case_then_refused_before_sending(tmp_path, method):
    """A raw ccxt request to ``/0/private/addorder`` is still an order: the wire check does not depend on case."""
    from wire_helpers import start_listener, stop_listener

    listener = start_listener()
    try:
        switch = KillSwitch(tmp_path / "state", "testnet")
        guard = SafetyGuard("testnet", executor_kind="exchange", kill_switch=switch)
        c = KrakenClient(guard=guard, base_url=listener.url, api_key="k", api_secret="c2VjcmV0", rate_limit=False)
        switch.engage("incident 9")
        with pytest.raises(EndpointDenied, match="halted"):
            c._ex.fetch(f"{listener.url}/0/private/{method}", "POST", {"API-Key": "k"},
                        "nonce=1&pair=XXBTZUSD&type=buy&ordertype=market&volume=1")
        assert listener.requests == []
    finally:
        stop_listener(listener)
