"""Parity with vectorbt: long-only all-in signals, execution="close", fees and slippage.

The equity curve must equal vectorbt's ``Portfolio.from_signals`` value at every bar to 1e-9
relative, with the same number of trades (vectorbt counts the open one too).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade.backtest import from_signals, run


def _vbt(close, entries, exits, fees, slippage, init_cash):
    return vbt.Portfolio.from_signals(close, entries, exits, fees=fees, slippage=slippage, init_cash=init_cash,
                                      freq="1h")


def _assert_same(res, pf):
    np.testing.assert_allclose(res.equity.to_numpy(), pf.value().to_numpy(), rtol=1e-9, atol=0)
    assert len(res.trades) == int(pf.trades.count())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(20, 300),
    seed=st.integers(0, 2**32 - 1),
    p_entry=st.floats(0.01, 0.5),
    p_exit=st.floats(0.01, 0.5),
    fees=st.sampled_from([0.0, 0.001, 0.0026, 0.01]),
    slippage=st.sampled_from([0.0, 0.0005, 0.002]),
)
def test_equity_matches_vectorbt_when_random_prices_and_signals(n, seed, p_entry, p_exit, fees, slippage):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2020-01-01", periods=n, freq="1h", tz="UTC")
    close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n))), index=idx)
    entries = pd.Series(rng.random(n) < p_entry, index=idx)
    exits = pd.Series(rng.random(n) < p_exit, index=idx)
    res = from_signals(close, entries, exits, fees=fees, slippage=slippage, init_cash=1000.0, execution="close")
    _assert_same(res, _vbt(close, entries, exits, fees, slippage, 1000.0))


@pytest.mark.realdata
@pytest.mark.parametrize("fast,slow", [(10, 50), (20, 100), (7, 200)])
def test_equity_matches_vectorbt_when_real_btc_ma_crossover(btc_bars, fast, slow):
    close = btc_bars["close"]
    res = run("ma_crossover", btc_bars, fast=fast, slow=slow, fees=0.0026, slippage=0.0005,
              execution="close")
    fma = vbt.MA.run(close, fast)
    sma = vbt.MA.run(close, slow)
    entries, exits = fma.ma_crossed_above(sma), fma.ma_crossed_below(sma)
    assert (res.entries.to_numpy() == entries.to_numpy()).all()
    assert (res.exits.to_numpy() == exits.to_numpy()).all()
    _assert_same(res, _vbt(close, entries, exits, 0.0026, 0.0005, 10_000.0))
