from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_bars(n: int = 500, *, seed: int = 0, start: str = "2021-01-01", freq: str = "1h") -> pd.DataFrame:
    """Seeded random-walk OHLCV bars satisfying the bars contract."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    idx = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="time")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": rng.uniform(1, 10, n)}, index=idx)


@pytest.fixture
def bars() -> pd.DataFrame:
    return make_bars(600, seed=3)


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
