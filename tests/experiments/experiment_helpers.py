"""Bar builders shared by the experiments tests (imported as a top-level module)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_walk_bars(n: int = 3000, *, seed: int = 0, freq: str = "1h", vol: float = 0.01,
                     drift: float = 0.0) -> pd.DataFrame:
    """Return a seeded geometric random walk as valid OHLCV bars."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(drift, vol, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, vol / 5, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, vol / 2, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol / 2, n)))
    idx = pd.date_range("2023-01-01", periods=n, freq=freq, tz="UTC", name="time")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": rng.uniform(1, 10, n)}, index=idx)
