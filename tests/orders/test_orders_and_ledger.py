"""Orders and the paper executor (the ledger and the pipeline are tested in tests/execution/)."""

from __future__ import annotations

import pandas as pd
import pytest

from peaktrade.orders import OrderError, OrderRequest, OrderStatus, PaperExecutor, PaperMarketContext

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
