"""Price collar on every order path of the execution pipeline (issue 17, item 5): the ExchangeExecutor passes
the decision price (the venue's touch its checks approved the order at) to the adapter, whose wire check
compares it with the venue's mid fetched right before each attempt to send. The market moves 12 % between
the decision and the send (a pipeline hook, or the adapter's retry backoff, moves the venue's price): entry,
signal exit, stop exit and a retried order are denied at the wire and nothing reaches the venue; validate-only
orders are checked at the price their fill is simulated at (the bar's)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "live"))
from testnet_helpers import FakeCcxtKraken, write_testnet_config  # noqa: E402

from peaktrade.backtest.options import BacktestOptions  # noqa: E402
from peaktrade.config import load_config  # noqa: E402
from peaktrade.execution.assembly import build_pipeline  # noqa: E402
from peaktrade.live import testnet  # noqa: E402
from peaktrade.orders.exchange import ExchangeExecutor  # noqa: E402

T0 = pd.Timestamp("2026-01-01", tz="UTC")


@pytest.fixture
def make(tmp_path, clean_env):
    clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(write_testnet_config(tmp_path)))
    cfg = load_config()  # [risk] max_price_deviation 5 %: the fake's touch is 0.5 % from its mid

    def build(*, validate_only: bool = False, stops: dict | None = None):
        fake = FakeCcxtKraken(price=100.0, cash=100_000.0)
        checks, guard = testnet.testnet_guard(cfg)
        moves: list[float] = []
        client = testnet.build_client(cfg, guard=guard, mode="kraken-sim", exchange=fake, validate_only=validate_only,
                              sleep=lambda s: setattr(fake, "price", moves.pop(0)) if moves else None)
        opts = BacktestOptions.from_config(cfg, init_cash=10_000.0, size_type="value", size=1_000.0,
                                           **(stops or {}))
        pipe = build_pipeline("BTC/USD", opts, checks=checks, executor=lambda ctx: ExchangeExecutor(
            client, ctx, fill_wait=0.0, poll=0.0, sleep=lambda s: None))
        return fake, guard, pipe, moves

    return build


def _move_before_send(pipe, fake, price):
    """The market moves after the pipeline's checks approved the order, before it is sent."""
    pipe.hooks.before_order.append(lambda req: setattr(fake, "price", price))


def _denied(guard):
    return [d for d in guard.decisions if d.kind == "wire" and not d.allowed]


def _assert_collar_denied_at_decision(guard, fake, decision):
    d = _denied(guard)
    assert [x.gate for x in d] == ["price_collar"], [x.reason for x in d]
    assert d[0].subject["price"] == pytest.approx(decision) and d[0].subject["reference_mid"] == pytest.approx(112.0)
    assert "deviates" in d[0].reason and fake.count("create_order") == 0


def test_entry_when_market_moves_beyond_collar_after_the_decision_then_denied_at_the_wire(make):
    fake, guard, pipe, _ = make()
    _move_before_send(pipe, fake, 112.0)
    pipe.context.price = 100.0
    pipe.move_to(1, 100.0, T0)
    _assert_collar_denied_at_decision(guard, fake, 100.5)  # the ask the entry was sized and checked at
    assert pipe.ledger.position("BTC/USD") == 0.0


def test_signal_exit_when_market_moves_beyond_collar_after_the_decision_then_denied_at_the_wire(make):
    fake, guard, pipe, _ = make()
    pipe.move_to(1, 100.0, T0)
    assert fake.count("create_order") == 1 and pipe.ledger.position("BTC/USD") > 0
    fake.calls.clear()
    _move_before_send(pipe, fake, 112.0)
    pipe.move_to(0, 100.0, T0 + pd.Timedelta("1min"))
    _assert_collar_denied_at_decision(guard, fake, 99.5)  # the bid the exit was checked at
    assert pipe.ledger.position("BTC/USD") > 0


def test_stop_exit_when_market_moves_beyond_collar_after_the_decision_then_denied_at_the_wire(make):
    fake, guard, pipe, _ = make(stops={"sl_stop": 0.02})
    pipe.on_bar(T0, T0 + pd.Timedelta("1min"), 100, 100, 100, 100, 1, True, False)
    pipe.on_bar(T0 + pd.Timedelta("1min"), T0 + pd.Timedelta("2min"), 100, 100, 100, 100, 1, False, False)
    assert fake.count("create_order") == 1
    fake.calls.clear()
    _move_before_send(pipe, fake, 112.0)
    denials = []
    pipe.hooks.on_denial.append(lambda req, d: denials.append(req.tag))
    pipe.on_bar(T0 + pd.Timedelta("2min"), T0 + pd.Timedelta("3min"), 99, 99, 95, 96, 1, False, False)  # the stop
    _assert_collar_denied_at_decision(guard, fake, 99.5)
    assert pipe.ledger.position("BTC/USD") > 0


def test_retried_order_when_market_moves_during_the_backoff_then_the_retry_is_denied(tmp_path, clean_env):
    """Over real HTTP (the wire check runs at the transport, on every attempt): the venue refuses the first
    attempt with a rate limit; during the backoff the market moves 12 %; the retry is checked against the
    fresh mid at the price the order was decided at, and is not sent."""
    import peaktrade.sim as sim
    from peaktrade.sim._faults import Fault

    ex = sim.SimExchange(keys={sim.DEFAULT_SIM_API_KEY: sim.DEFAULT_SIM_API_SECRET}, seed=5, speed=0.0, tier="pro")
    shift = [1.0]
    orig = ex._quote_at
    ex._quote_at = lambda pair, p: orig(pair, p * shift[0])
    with sim.serve_in_thread(ex) as srv:
        clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(write_testnet_config(
            tmp_path, testnet={"mode": "kraken-sim", "sim_url": srv.url})))
        cfg = load_config()
        checks, guard = testnet.testnet_guard(cfg)
        client = testnet.build_client(cfg, guard=guard, mode="kraken-sim",
                                      sleep=lambda s: shift.__setitem__(0, 1.12))  # the backoff: the market moves
        opts = BacktestOptions.from_config(cfg, init_cash=10_000.0, size_type="value", size=1_000.0)
        pipe = build_pipeline("BTC/USD", opts, checks=checks, executor=lambda ctx: ExchangeExecutor(
            client, ctx, fill_wait=0.0, poll=0.0, sleep=lambda s: None))
        ask = client.fetch_ticker("BTC/USD").ask
        ex.faults.add(Fault("rate_limit", frozenset({"AddOrder"}), count=1))
        pipe.move_to(1, ask, T0)
        wire = [d for d in guard.decisions if d.kind == "wire" and d.subject.get("operation") == "AddOrder"]
        # the first attempt passed (and was refused by the venue); the retry is denied before the wire
        assert all(d.allowed for d in wire[:-1]) and not wire[-1].allowed and wire[-1].gate == "price_collar"
        assert wire[-1].subject["price"] == pytest.approx(ask)  # the decision price, not the moved touch
        assert wire[-1].subject["reference_mid"] == pytest.approx(ask * 1.12, rel=0.01)
        assert ex.orders == {} and pipe.ledger.position("BTC/USD") == 0.0


def test_validate_only_order_when_bar_price_beyond_collar_of_the_venue_mid_then_denied(make):
    fake, guard, pipe, _ = make(validate_only=True)
    pipe.context.price = 80.0  # a catch-up bar's price, 20 % under the venue's mid: its fill would be simulated there
    pipe.move_to(1, 80.0, T0)
    d = _denied(guard)
    assert [x.gate for x in d] == ["price_collar"] and d[0].subject["price"] == pytest.approx(80.0)
    assert fake.count("create_order") == 0 and pipe.ledger.position("BTC/USD") == 0.0
    pipe.context.price = 100.2  # within the collar: validated by the venue, filled (simulated) at the bar's price
    pipe.move_to(1, 100.2, T0 + pd.Timedelta("1min"))
    assert fake.count("create_order") == 1 and pipe.ledger.position("BTC/USD") > 0
