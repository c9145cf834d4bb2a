"""The ledger: positions, average entry, realized and unrealized P&L, flips, no drift."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from peaktrade.execution import Ledger
from peaktrade.orders import OrderFill

T0 = pd.Timestamp("2024-01-01", tz="UTC")


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
