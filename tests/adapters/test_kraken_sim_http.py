"""KrakenClient over real HTTP against the local Kraken-protocol simulator (peaktrade.sim)."""

from __future__ import annotations

import itertools

import pytest

from peaktrade.adapters.errors import EndpointDenied, InvalidOrderError  # noqa: E402
from peaktrade.adapters.kraken import KrakenClient, RetryPolicy  # noqa: E402
from peaktrade.safety import SafetyGuard  # noqa: E402
from peaktrade.sim import Fault, SimExchange, serve_in_thread  # noqa: E402

KEY, SECRET = "sim-key", "c2VjcmV0LXNpbS1rZXktMDEyMzQ1Njc4OQ=="


class FastWall:
    """Wall clock of the simulator that moves 5 s per reading: rate counters decay, prices stand still."""

    def __init__(self) -> None:
        self.t = itertools.count(0, 5.0)

    def __call__(self) -> float:
        return float(next(self.t))


def make_sim(**kw) -> SimExchange:
    return SimExchange(keys={KEY: SECRET}, seed=3, speed=0.0, wall_clock=FastWall(), tier="pro", **kw)


def client(url: str, **kw) -> KrakenClient:
    return KrakenClient(guard=SafetyGuard("testnet", executor_kind="exchange"), base_url=url, api_key=KEY,
                        api_secret=SECRET, rate_limit=False, sleep=lambda s: None, timeout_ms=5000,
                        retry=RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05), **kw)


def sim_orders(ex: SimExchange) -> list:
    return list(ex.orders.values())


def test_sim_when_public_and_private_round_trip_then_works_over_http():
    with serve_in_thread(make_sim()) as srv:
        c = client(srv.url)
        assert not c.validate_only
        assert c.load_markets()["BTC/USD"].amount_min == 0.0001
        assert c.fetch_ticker("BTC/USD").last > 0
        assert len(c.fetch_ohlcv("BTC/USD", "1m")) > 10
        assert c.fetch_balance().total["USD"] == 100_000.0
        assert c.fetch_status()["status"] == "ok"


def test_sim_when_drop_after_accept_then_reconciled_and_order_not_placed_twice():
    with serve_in_thread(make_sim()) as srv:
        c = client(srv.url)
        srv.exchange.faults.add(Fault("drop", frozenset({"AddOrder"})))
        order = c.create_order("BTC/USD", "buy", "market", 0.01, client_order_id="pt-drop-1")
        placed = sim_orders(srv.exchange)
        assert len(placed) == 1 and placed[0].cl_ord_id == "pt-drop-1"
        assert order.id == placed[0].txid and order.client_order_id == "pt-drop-1" and order.filled == 0.01


def test_sim_when_error_after_accept_then_not_placed_twice():
    with serve_in_thread(make_sim()) as srv:
        c = client(srv.url)
        srv.exchange.faults.add(Fault("error_after", frozenset({"AddOrder"}), status=502))
        c.create_order("BTC/USD", "sell", "market", 0.02, client_order_id="pt-502")
        assert [o.cl_ord_id for o in sim_orders(srv.exchange)] == ["pt-502"]


def test_sim_when_rejected_before_handling_then_resent_once():
    with serve_in_thread(make_sim()) as srv:
        c = client(srv.url)
        srv.exchange.faults.add(Fault("unavailable", frozenset({"AddOrder"}), count=2))
        c.create_order("BTC/USD", "buy", "market", 0.01, client_order_id="pt-unavail")
        assert [o.cl_ord_id for o in sim_orders(srv.exchange)] == ["pt-unavail"]


def test_sim_when_order_invalid_then_invalid_order_error_and_nothing_placed():
    with serve_in_thread(make_sim()) as srv:
        with pytest.raises(InvalidOrderError):
            client(srv.url).create_order("BTC/USD", "buy", "market", 1e-7, client_order_id="pt-tiny")
        assert sim_orders(srv.exchange) == []


def test_sim_when_validate_only_then_described_and_nothing_placed():
    with serve_in_thread(make_sim()) as srv:
        c = client(srv.url, validate_only=True)
        order = c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-val")
        assert order.validated_only and order.id is None and "buy" in order.description
        assert sim_orders(srv.exchange) == []


def test_sim_when_guard_is_paper_then_private_requests_never_reach_the_server():
    with serve_in_thread(make_sim()) as srv:
        c = KrakenClient(guard=SafetyGuard("paper", executor_kind="paper"), base_url=srv.url, api_key=KEY,
                         api_secret=SECRET, rate_limit=False)
        with pytest.raises(EndpointDenied):
            c.create_order("BTC/USD", "buy", "market", 0.01, client_order_id="pt-paper")
        assert sim_orders(srv.exchange) == []


def test_sim_when_client_times_out_while_server_still_processing_then_waits_past_deadline_and_never_duplicates():
    import time

    with serve_in_thread(make_sim()) as srv:
        c = KrakenClient(guard=SafetyGuard("testnet", executor_kind="exchange"), base_url=srv.url, api_key=KEY,
                         api_secret=SECRET, rate_limit=False, timeout_ms=300, order_deadline=2.0,
                         retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02))
        srv.exchange.faults.add(Fault("latency", frozenset({"AddOrder"}), ms=800))  # applied after the client gave up
        t0 = time.monotonic()
        order = c.create_order("BTC/USD", "buy", "market", 0.01, client_order_id="pt-inflight")
        assert time.monotonic() - t0 >= 2.0  # waited out the order's deadline before reconciling
        assert [o.cl_ord_id for o in sim_orders(srv.exchange)] == ["pt-inflight"]
        assert order.client_order_id == "pt-inflight" and order.filled == 0.01


def test_wire_when_order_placed_then_it_carries_a_deadline_and_validate_orders_do_not():
    from kraken_fakes import real_ccxt_with_transport

    c, wire = real_ccxt_with_transport(guard=SafetyGuard("testnet", executor_kind="exchange"),
                                       base_url="http://127.0.0.1:9", clock=lambda: 1_800_000_000.0)
    c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-dl")
    assert wire.private()[0]["params"]["deadline"] == "2027-01-15T08:00:05.000Z"
    v, wire2 = real_ccxt_with_transport(guard=SafetyGuard("testnet", executor_kind="exchange"), validate_only=True)
    v.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-dl2")
    assert "deadline" not in wire2.private()[0]["params"]
