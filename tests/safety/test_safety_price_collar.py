"""Price collars (issue 17, item 5): an order priced more than ``[risk] max_price_deviation`` away from the
venue's mid is denied at the last step before the wire (the adapter's transport, against a mid fetched right
before sending); no mid: denied (fail closed). Real HTTP against the local simulator; its AddOrder handler
counts what arrived."""

from __future__ import annotations

import pytest
from safety_helpers import counting_sim

from peaktrade.adapters.errors import EndpointDenied
from peaktrade.adapters.kraken import KrakenClient, RetryPolicy
from peaktrade.config import RiskConfig
from peaktrade.errors import ConfigError
from peaktrade.safety import DecisionLog, KillSwitch, SafetyGuard
from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, SimExchange, synthetic_feeds
from peaktrade.sim._faults import Fault


@pytest.fixture(scope="module")
def sim():
    ex = SimExchange(keys={DEFAULT_SIM_API_KEY: DEFAULT_SIM_API_SECRET}, feeds=synthetic_feeds(seed=5, n=800),
                     speed=0.0, tier="pro")
    with counting_sim(ex) as srv:
        yield srv


@pytest.fixture
def client(sim, tmp_path):
    sim.arrived.clear()
    log = DecisionLog(path=tmp_path / "audit.jsonl")
    guard = SafetyGuard("testnet", executor_kind="exchange", kill_switch=KillSwitch(tmp_path / "state", "testnet"),
                        log=log, max_price_deviation=0.02)
    return KrakenClient(guard=guard, base_url=sim.url, api_key=DEFAULT_SIM_API_KEY, api_secret=DEFAULT_SIM_API_SECRET,
                        simulator=True, rate_limit=False, sleep=lambda s: None,
                        retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001))


def _mid(client) -> float:
    return client.fetch_ticker("BTC/USD").mid


def test_limit_order_when_price_beyond_collar_then_denied_before_the_wire_and_audited(sim, client, tmp_path):
    mid = _mid(client)
    for side, price in (("buy", round(mid * 1.05, 1)), ("sell", round(mid * 0.95, 1))):
        with pytest.raises(EndpointDenied, match="price_collar: .* deviates .* > max_price_deviation 2.00%") as ei:
            client.create_order("BTC/USD", side, "limit", 0.001, price, client_order_id=f"pt-far-{side}")
        assert ei.value.not_placed
    assert sim.arrived == []
    denied = [d for d in client.guard.decisions if d.kind == "wire" and not d.allowed]
    assert [d.gate for d in denied] == ["price_collar", "price_collar"]
    assert denied[0].subject["reference_mid"] == pytest.approx(mid, rel=0.01)
    audit = (tmp_path / "audit.jsonl").read_text()
    assert audit.count('"gate": "price_collar"') == 2 and "deviates" in audit


def test_limit_order_when_price_within_collar_then_sent(sim, client):
    price = round(client.fetch_ticker("BTC/USD").bid * 0.99, 1)  # 1 % under the bid: inside 2 %, resting
    order = client.create_order("BTC/USD", "buy", "limit", 0.001, price, client_order_id="pt-near")
    assert order.status == "open" and len(sim.arrived) == 1
    client.cancel_order(order_id=order.id, symbol="BTC/USD")


def test_market_order_when_spread_within_collar_then_checked_at_the_touch_and_sent(sim, client):
    client.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-mkt")
    assert len(sim.arrived) == 1
    wire = [d for d in client.guard.decisions if d.kind == "wire"][-1]
    t = client.fetch_ticker("BTC/USD")
    assert wire.allowed and wire.subject["price"] >= wire.subject["reference_mid"]  # a buy is checked at the ask
    assert wire.subject["price"] == pytest.approx(t.ask, rel=0.01)


def test_order_when_no_reference_mid_then_denied_and_nothing_sent(sim, client):
    sim.exchange.faults.add(Fault("unavailable", frozenset({"Ticker"}), count=2))  # both ticker attempts fail
    with pytest.raises(EndpointDenied, match="price_collar: no reference mid .*fetching the ticker failed"):
        client.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-nomid")
    assert sim.arrived == []


def test_raw_ccxt_order_when_it_skips_create_order_then_the_collar_denies_it(sim, client):
    client._ex.load_markets()
    with pytest.raises(EndpointDenied, match="price_collar: no reference mid .*not placed through create_order"):
        client._ex.create_order("BTC/USD", "market", "buy", 0.001, None, {"clientOrderId": "pt-raw"})
    assert sim.arrived == []


def test_config_when_collar_unset_or_not_a_fraction_then_testnet_refuses_or_config_rejected():
    with pytest.raises(ConfigError, match="max_price_deviation"):
        RiskConfig(max_order_notional=1, max_position_notional=1, max_total_exposure=1, max_open_positions=1,
                   max_daily_loss=1, max_orders_per_minute=1, max_price_deviation=None).require_limits_for("testnet")
    with pytest.raises(ValueError, match="max_price_deviation"):
        RiskConfig(max_price_deviation=5)  # 5 meant as percent: a fraction is expected
    assert RiskConfig().max_price_deviation == 0.05


def test_market_order_when_decision_price_stale_30pct_then_denied_and_no_add_order(sim, client):
    stale = round(_mid(client) * 0.7, 1)  # the pipeline decided on a price 30 % under the venue's mid
    with pytest.raises(EndpointDenied, match="price_collar: buy BTC/USD at .* deviates 3.*% .* > max_price_dev"):
        client.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-stale", decision_price=stale)
    assert sim.arrived == []
    denied = [d for d in client.guard.decisions if d.kind == "wire" and not d.allowed]
    assert [d.subject["price"] for d in denied] == [stale]


def test_collar_when_configured_wider_than_cap_then_one_line_error_naming_key_value_and_range(tmp_path):
    from peaktrade.config import load_config

    with pytest.raises(ValueError, match=r"\[risk\] max_price_deviation=0.5 is invalid: expected a fraction in "
                                         r"\(0, 0.2\]"):
        RiskConfig(max_price_deviation=0.5)
    path = tmp_path / "c.toml"
    path.write_text("[risk]\nmax_price_deviation = 0.3\n")
    with pytest.raises(ConfigError, match="risk.max_price_deviation.*0.3.*expected a fraction in"):
        load_config(path)
    with pytest.raises(ValueError, match="max_price_deviation=0.3 is invalid"):
        SafetyGuard("testnet", executor_kind="exchange", max_price_deviation=0.3,
                    kill_switch=KillSwitch(tmp_path / "ks", "testnet"))
