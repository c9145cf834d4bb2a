"""Fault injection seen from ccxt as the right exception class; the loopback-only admin endpoint."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import ccxt
import pytest

from peaktrade.sim import Fault, admin_allowed, is_loopback, parse_profile


def _admin(url, what, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(f"{url}/_admin/{what}", data=data, method="GET" if data is None else "POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def _buy(kraken):
    return kraken.create_order("BTC/USD", "market", "buy", 0.001)


def test_drop_fault_when_order_sent_then_network_error_but_order_applied(kraken, sim):
    kraken.load_markets()
    _admin(sim.url, "faults", {"kind": "drop", "methods": ["AddOrder"]})
    with pytest.raises(ccxt.NetworkError) as ei:
        _buy(kraken)
    assert not isinstance(ei.value, ccxt.ExchangeError)
    assert [o["status"] for o in _admin(sim.url, "state")["orders"].values()] == ["closed"]
    assert kraken.fetch_balance()["total"]["BTC"] == pytest.approx(1.001)  # the next call works


def test_error_after_fault_when_order_sent_then_exchange_not_available_but_order_applied(kraken, sim):
    kraken.load_markets()
    _admin(sim.url, "faults", {"kind": "error_after", "methods": ["AddOrder"], "status": 502})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        _buy(kraken)
    assert len(kraken.fetch_closed_orders()) == 1


@pytest.mark.parametrize("status", [503, 520])
def test_http_error_fault_when_any_call_then_exchange_not_available_and_not_applied(kraken, sim, status):
    kraken.load_markets()
    _admin(sim.url, "faults", {"kind": "http_error", "status": status})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        _buy(kraken)
    assert sim.exchange.orders == {}


@pytest.mark.parametrize(("kind", "exc"), [
    ("unavailable", ccxt.ExchangeNotAvailable),
    ("rate_limit", ccxt.DDoSProtection),
    ("invalid_nonce", ccxt.InvalidNonce),
])
def test_envelope_fault_when_call_then_kraken_error_string_maps_to_ccxt_class(kraken, sim, kind, exc):
    _admin(sim.url, "faults", {"kind": kind, "methods": ["BalanceEx"]})
    with pytest.raises(exc):
        kraken.fetch_balance()
    assert kraken.fetch_balance()["total"]["USD"] == 100000.0  # one-shot: consumed


def test_latency_fault_when_longer_than_client_timeout_then_request_timeout(kraken, sim):
    kraken.timeout = 300  # ms
    _admin(sim.url, "faults", {"kind": "latency", "ms": 800, "methods": ["Time"]})
    with pytest.raises(ccxt.RequestTimeout):
        kraken.fetch_time()


def test_flaky_profile_when_same_seed_then_same_fault_schedule():
    a, b = parse_profile("flaky:seed=3,p=0.3"), parse_profile("flaky:seed=3,p=0.3")
    seq_a = [getattr(a.draw("AddOrder"), "kind", None) for _ in range(200)]
    seq_b = [getattr(b.draw("AddOrder"), "kind", None) for _ in range(200)]
    assert seq_a == seq_b and 30 < sum(k is not None for k in seq_a) < 90
    only = parse_profile("flaky:seed=1,p=1,kinds=rate_limit,methods=AddOrder")
    assert only.draw("Ticker") is None and only.draw("AddOrder").kind == "rate_limit"
    assert parse_profile("latency:ms=50").draw("Time").ms == 50


@pytest.mark.parametrize("spec", ["bogus", "flaky:p=2", "flaky:kinds=explode", "latency:p=1", "flaky:seed"])
def test_parse_profile_when_invalid_then_value_error_names_it(spec):
    with pytest.raises(ValueError, match="faults"):
        parse_profile(spec)
    with pytest.raises(ValueError, match="kind"):
        Fault("explode")


def test_flaky_profile_when_served_then_ccxt_sees_only_mapped_errors(make_exchange):
    from sim_test_support import KEY, SECRET

    from peaktrade.sim import ccxt_config, serve_in_thread

    ex = make_exchange(faults=parse_profile("flaky:seed=5,p=0.5,kinds=unavailable+rate_limit+http_error"))
    with serve_in_thread(ex) as s:
        k = ccxt.kraken(ccxt_config(s.url, KEY, SECRET))
        seen = set()
        for _ in range(20):
            try:
                k.fetch_time()
                seen.add("ok")
            except (ccxt.ExchangeNotAvailable, ccxt.DDoSProtection) as e:
                seen.add(type(e).__name__)
    assert {"ok", "ExchangeNotAvailable", "DDoSProtection"} <= seen


def test_is_loopback_when_addresses_then_only_loopback_allowed():
    for ok in ("127.0.0.1", "127.5.6.7", "::1", "::ffff:127.0.0.1"):
        assert is_loopback(ok) and admin_allowed(ok)
    for bad in ("10.0.0.1", "192.168.1.2", "0.0.0.0", "::", "8.8.8.8", "localhost", "", None, "::ffff:10.0.0.1"):
        assert not is_loopback(bad) and not admin_allowed(bad)


def test_admin_when_loopback_client_then_advance_speed_status_and_state_work(sim, kraken):
    t0 = _admin(sim.url, "state")["time"]
    assert _admin(sim.url, "advance", {"bars": 10})["time"] == pytest.approx(t0 + 600)
    assert _admin(sim.url, "status", {"status": "maintenance"}) == {"status": "maintenance"}
    assert kraken.fetch_status()["status"] == "maintenance"
    with pytest.raises(urllib.error.HTTPError) as ei:
        _admin(sim.url, "status", {"status": "weird"})
    assert ei.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as ei:
        _admin(sim.url, "nothing", {})
    assert ei.value.code == 404


def test_admin_when_non_loopback_client_then_403(sim, monkeypatch):
    from peaktrade.sim import _server

    monkeypatch.setattr(_server, "admin_allowed", lambda host: False)
    with pytest.raises(urllib.error.HTTPError) as ei:
        _admin(sim.url, "state")
    assert ei.value.code == 403
