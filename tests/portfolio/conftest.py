from __future__ import annotations

import pandas as pd
import pytest
from helpers import random_bars

#: The five real Kraken pairs of ../shared/data/kraken and their file stems.
PAIRS = {"BTC/USD": "XBT", "ETH/USD": "ETH", "LTC/USD": "LTC", "XRP/USD": "XRP", "BCH/USD": "BCH"}


@pytest.fixture(scope="session")
def five_pairs(shared_data) -> dict[str, pd.DataFrame]:
    """The five real hourly pairs on their common span (2017-08-01 → 2022-06-30; each keeps its own gaps)."""
    from peaktrade.data import read_kraken_ohlcvt

    bars = {s: read_kraken_ohlcvt(shared_data / f"{k}USD_60.csv.gz", symbol=s, timeframe="1h")
            for s, k in PAIRS.items()}
    start = max(b.index[0] for b in bars.values())
    end = min(b.index[-1] for b in bars.values())
    return {s: b.loc[start:end] for s, b in bars.items()}


def _three_assets(n: int = 600, *, freq: str = "1h", gaps: bool = True) -> dict[str, pd.DataFrame]:
    """Three small seeded assets; with ``gaps`` C starts 50 bars late and misses 10 bars."""
    bars = {s: random_bars(n, seed=i + 1, vol=0.01, freq=freq) for i, s in enumerate(("A", "B", "C"))}
    if gaps:
        c = bars["C"].iloc[50:]
        bars["C"] = c.drop(c.index[200:210])
    return bars


@pytest.fixture
def three_assets():
    """Return ``three_assets(n=600, *, freq="1h", gaps=True)``: three small seeded assets (C starts 50 bars
    late and misses 10 bars when ``gaps``)."""
    return _three_assets
