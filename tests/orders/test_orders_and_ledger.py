"""Orders, the paper executor, the ledger and the pipeline's hooks and checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from peaktrade.execution import Decision, ExecutionPipeline, Hooks, Ledger
from peaktrade.orders import OrderError, OrderFill, OrderRequest, OrderStatus, PaperExecutor, PaperMarketContext

T0 = pd.Timestamp("2024-01-01", tz="UTC")


@pytest.mark.parametrize("kw,field", [
    (dict(quantity=0), "quantity=0"),
    (dict(quantity=-1.5), "quantity=-1.5"),
    (dict(quantity=float("nan")), "quantity=nan"),
    (dict(side="hold"), "side='hold'"),
    (dict(symbol="BTCUSD"), "symbol='BTCUSD'"),
    (dict(type="stop"), "type='stop'"),
    (dict(type="limit"), "limit_price is missing"),
    (dict(type="limit", limit_price=-3.0), "limit_price=-3.0"),
    (dict(limit_price=100.0), "limit_price=100.0"),
    (dict(time_in_force="DAY"), "time_in_force='DAY'"),
])
def test_invalid_request_names_the_field(kw, field):
    args = dict(symbol="BTC/USD", side="buy", quantity=1.0) | kw
    with pytest.raises(OrderError) as e:
        OrderRequest(**args)
    assert field in str(e.value)


def test_client_order_ids_generated_unique_when_absent():
    ids = {OrderRequest("BTC/USD", "buy", 1.0).client_order_id for _ in range(1000)}
    assert len(ids) == 1000


def _paper(**kw):
    ctx = PaperMarketContext("BTC/USD", time=T0, price=100.0, bar_open=100.0, bar_high=101.0, bar_low=99.0,
                             bar_close=100.0, bar_volume=10.0)
    return ctx, PaperExecutor(ctx, **kw)


def test_market_order_fills_with_backtest_cost_model_at_market_time():
    ctx, ex = _paper(fees=0.001, fixed_fees=0.5, slippage=0.002)
    res = ex.submit(OrderRequest("BTC/USD", "buy", 2.0))
    (fill,) = res.fills
    assert res.status == OrderStatus.FILLED and fill.price == pytest.approx(100.2)
    assert fill.fee == pytest.approx(2.0 * 100.2 * 0.001 + 0.5) and fill.timestamp == T0
    sell = ex.submit(OrderRequest("BTC/USD", "sell", 1.0)).fills[0]
    assert sell.price == pytest.approx(99.8)


def test_limit_order_rests_then_fills_when_price_crosses():
    ctx, ex = _paper()
    res = ex.submit(OrderRequest("BTC/USD", "buy", 1.0, type="limit", limit_price=95.0))
    assert res.status == OrderStatus.ACCEPTED and ex.open_orders() == [res.request]
    assert ex.on_bar() == []  # low 99 does not reach 95
    ctx.time, ctx.bar_open, ctx.bar_high, ctx.bar_low = T0 + pd.Timedelta("1h"), 97.0, 98.0, 94.0
    (done,) = ex.on_bar()
    assert done.status == OrderStatus.FILLED and done.fills[0].price == 95.0
    assert done.fills[0].timestamp == T0 + pd.Timedelta("1h") and ex.open_orders() == []
    ctx.bar_open = 90.0  # a bar that opens through the limit fills at the (better) open
    ex.submit(OrderRequest("BTC/USD", "buy", 1.0, type="limit", limit_price=92.0))
    ctx.bar_low = 89.0
    assert ex.on_bar()[0].fills[0].price == 90.0


def test_limit_order_fills_partially_when_volume_share_caps_it():
    ctx, ex = _paper(volume_share=0.1)
    ex.submit(OrderRequest("BTC/USD", "sell", 2.5, type="limit", limit_price=100.5))
    first = ex.on_bar()
    assert first[0].status == OrderStatus.PARTIALLY_FILLED and first[0].fills[0].quantity == pytest.approx(1.0)
    ex.on_bar()
    last = ex.on_bar()
    assert last[0].status == OrderStatus.FILLED and last[0].fills[0].quantity == pytest.approx(0.5)


def test_marketable_ioc_fills_and_non_marketable_ioc_cancels():
    _, ex = _paper()
    assert ex.submit(OrderRequest("BTC/USD", "buy", 1.0, type="limit", limit_price=101.0,
                                  time_in_force="IOC")).status == OrderStatus.FILLED
    assert ex.submit(OrderRequest("BTC/USD", "buy", 1.0, type="limit", limit_price=90.0,
                                  time_in_force="IOC")).status == OrderStatus.CANCELLED


def test_unknown_symbol_and_duplicate_id_rejected():
    _, ex = _paper()
    assert "unknown symbol" in ex.submit(OrderRequest("ETH/USD", "buy", 1.0)).reason
    req = OrderRequest("BTC/USD", "buy", 1.0)
    ex.submit(req)
    assert ex.submit(req).status == OrderStatus.REJECTED
    with pytest.raises(OrderError, match="client_order_id"):
        ex.cancel("nope")


def _fill(side, qty, price, fee=0.0, t=0, tag=""):
    return OrderFill(f"id{t}{side}", "BTC/USD", side, qty, price, fee, T0 + pd.Timedelta(hours=t), tag)


def test_ledger_books_average_entry_realized_and_unrealized_pnl():
    led = Ledger(10_000.0)
    led.apply(_fill("buy", 1.0, 100.0, 1.0, 0))
    led.apply(_fill("buy", 1.0, 110.0, 1.0, 1))
    pos = led.positions["BTC/USD"]
    assert pos.quantity == 2.0 and pos.avg_price == pytest.approx(105.0)
    assert led.unrealized_pnl({"BTC/USD": 120.0}) == pytest.approx(2 * 15.0 - 2.0)
    led.apply(_fill("sell", 2.0, 120.0, 2.0, 2, "signal"))
    (tr,) = led.trades
    assert tr.pnl == pytest.approx(30.0 - 4.0) and tr.size == 2.0 and tr.exit_reason == "signal"
    assert led.cash == pytest.approx(10_000.0 + 26.0) and led.fees_paid == pytest.approx(4.0)


def test_ledger_splits_a_flipping_fill_into_close_and_open():
    led = Ledger(1_000.0)
    led.apply(_fill("buy", 1.0, 100.0, 0.0, 0))
    led.apply(_fill("sell", 3.0, 90.0, 3.0, 1))
    assert led.position("BTC/USD") == pytest.approx(-2.0)
    assert led.trades[0].pnl == pytest.approx(-10.0 - 1.0)
    assert led.positions["BTC/USD"].entry_fees == pytest.approx(2.0)


def test_ledger_does_not_drift_over_a_long_random_run():
    rng = np.random.default_rng(7)
    led = Ledger(1_000_000.0)
    price = 100.0
    for t in range(20_000):
        price *= math.exp(rng.normal(0, 0.01))
        side = "buy" if rng.random() < 0.5 else "sell"
        led.apply(_fill(side, float(rng.uniform(0.01, 5)), price, float(rng.uniform(0, 0.5)), t))
    marks = {"BTC/USD": price}
    equity = led.equity(marks)
    assert equity == pytest.approx(led.initial_cash + led.realized_pnl + led.unrealized_pnl(marks), rel=1e-12)
    q = led.position("BTC/USD")  # flatten: then every cent is in the closed trades
    led.apply(_fill("sell" if q > 0 else "buy", abs(q), price, 0.25, 99_999))
    assert led.position("BTC/USD") == 0.0
    assert led.cash == pytest.approx(led.initial_cash + sum(t.pnl for t in led.trades), rel=1e-12)
    assert led.cash == pytest.approx(led.initial_cash + led.realized_pnl, rel=1e-12)


class DenyBuys:
    def check(self, request, *, ledger, price, now):
        return Decision(request.side != "buy", "deny_buys", "no buying today")


class Broken:
    def check(self, request, *, ledger, price, now):
        raise RuntimeError("limits store unreachable")


def _pipe(checks):
    ctx = PaperMarketContext("BTC/USD")
    calls = {"before": [], "fill": [], "denial": [], "bar": []}
    hooks = Hooks(before_order=[calls["before"].append], after_fill=[calls["fill"].append],
                  on_denial=[lambda r, d: calls["denial"].append(d)], on_bar=[calls["bar"].append])
    pipe = ExecutionPipeline(symbol="BTC/USD", executor=PaperExecutor(ctx, fees=0.001), ledger=Ledger(1_000.0),
                             context=ctx, checks=checks, execution="close", hooks=hooks)
    return pipe, calls


def test_pipeline_runs_hooks_and_books_fills_when_checks_pass():
    pipe, calls = _pipe([])
    pipe.on_bar(T0, T0 + pd.Timedelta("1h"), 100, 101, 99, 100, 5, True, False)
    assert len(calls["before"]) == 1 and len(calls["fill"]) == 1 and calls["denial"] == []
    assert calls["bar"][0]["position"] > 0 and pipe.ledger.position("BTC/USD") > 0
    assert calls["fill"][0].timestamp == T0 + pd.Timedelta("1h")  # a close fill is stamped at the close


def test_pipeline_records_denial_and_sends_nothing_when_a_check_denies():
    pipe, calls = _pipe([DenyBuys()])
    pipe.on_bar(T0, T0 + pd.Timedelta("1h"), 100, 101, 99, 100, 5, True, False)
    assert calls["fill"] == [] and calls["before"] == [] and pipe.ledger.position("BTC/USD") == 0
    (d,) = calls["denial"]
    assert d.gate == "deny_buys" and pipe.denials[0][1] is d


def test_pipeline_denies_when_a_check_cannot_decide():
    pipe, calls = _pipe([Broken()])
    pipe.on_bar(T0, T0 + pd.Timedelta("1h"), 100, 101, 99, 100, 5, True, False)
    (d,) = calls["denial"]
    assert not d.allowed and "limits store unreachable" in d.reason and calls["fill"] == []
