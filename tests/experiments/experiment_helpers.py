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


def squeeze_bars(n: int = 1200, *, seed: int = 0, every: int = 200, jump: float = 3.0) -> pd.DataFrame:
    """Return a random walk whose prices jump ×``jump`` at the open of every ``every``-th bar (a
    short squeeze): an all-in short held through a jump of ×2 or more is ruined."""
    b = random_walk_bars(n, seed=seed)
    scale = jump ** (np.arange(n) // every)
    b[["open", "high", "low", "close"]] = b[["open", "high", "low", "close"]].to_numpy() * scale[:, None]
    return b
