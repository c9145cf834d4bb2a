from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars


@pytest.fixture
def bars() -> pd.DataFrame:
    return random_bars(600, seed=3)


def bars_from(prices: list[tuple[float, float, float, float]], freq: str = "1h") -> pd.DataFrame:
    """Bars from explicit (open, high, low, close) tuples."""
    idx = pd.date_range("2022-01-01", periods=len(prices), freq=freq, tz="UTC", name="time")
    df = pd.DataFrame(prices, columns=["open", "high", "low", "close"], index=idx, dtype=float)
    df["volume"] = 1.0
    return df


@pytest.fixture(scope="session")
def btc_bars(shared_data) -> pd.DataFrame:
    """Real Kraken XBTUSD hourly bars (gaps kept), from ../shared/data (skipped where absent)."""
    from peaktrade.data import read_kraken_ohlcvt

    return read_kraken_ohlcvt(shared_data / "XBTUSD_60.csv.gz", symbol="BTC/USD", timeframe="1h")


def sig(n, on):
    """A boolean signal of length ``n``, True at the bars ``on``."""
    s = np.zeros(n, dtype=bool)
    s[list(on)] = True
    return s


def fs(bars, entries_on, exits_on, **kw):
    """``from_signals`` on ``bars`` with entries / exits at the given bar numbers."""
    from peaktrade.backtest import from_signals

    n = len(bars)
    return from_signals(bars["close"], sig(n, entries_on), sig(n, exits_on), open=bars["open"],
                        high=bars["high"], low=bars["low"], **kw)
