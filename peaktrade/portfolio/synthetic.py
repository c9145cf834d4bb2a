"""A seeded, correlated multi-asset synthetic set: the portfolio's offline default data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from peaktrade.errors import DataError, bad_value

#: Symbols of the offline default set (and their start prices).
SYNTHETIC_SYMBOLS = {"BTC/USD": 30_000.0, "ETH/USD": 2_000.0, "LTC/USD": 90.0, "XRP/USD": 0.5, "BCH/USD": 250.0}


def synthetic_universe(symbols: list[str] | tuple[str, ...] | None = None, *, n: int = 8_760, timeframe: str = "1h",
                       seed: int = 7, correlation: float = 0.6, start: str = "2021-01-01") -> dict[str, pd.DataFrame]:
    """Return ``{symbol: bars}``: one market factor shared by every symbol plus each symbol's own path.

    Each symbol's log returns are ``sqrt(correlation) × market + sqrt(1 − correlation) × own``, both from
    :func:`peaktrade.data.synthetic_bars` (fat tails, volatility clustering, regimes), so any two symbols'
    returns correlate at about ``correlation``. The same arguments always give identical frames.
    """
    from peaktrade.data import synthetic_bars
    from peaktrade.data.schema import validate_bars

    symbols = list(symbols or SYNTHETIC_SYMBOLS)
    if not symbols or len(set(symbols)) != len(symbols):
        raise DataError(bad_value("symbols", symbols, "distinct symbols"))
    if not (isinstance(correlation, (int, float)) and 0.0 <= correlation < 1.0):
        raise DataError(bad_value("correlation", correlation, "a number in [0, 1)"))
    market = synthetic_bars(n, timeframe=timeframe, seed=seed, start=start)
    rm = np.diff(np.log(np.r_[market["open"].iloc[0], market["close"].to_numpy()]))
    out = {}
    for i, sym in enumerate(symbols):
        own = synthetic_bars(n, timeframe=timeframe, seed=seed * 1_000 + i + 1, start=start)
        ro = np.diff(np.log(np.r_[own["open"].iloc[0], own["close"].to_numpy()]))
        r = np.sqrt(correlation) * rm + np.sqrt(1.0 - correlation) * ro
        p0 = SYNTHETIC_SYMBOLS.get(sym, 100.0 * (i + 1))
        close = p0 * np.exp(np.cumsum(r))
        open_ = np.r_[p0, close[:-1]]
        # the own path's wicks, relative to its body, around the new body
        hi_rel = (own["high"] / own[["open", "close"]].max(axis=1)).to_numpy()
        lo_rel = (own["low"] / own[["open", "close"]].min(axis=1)).to_numpy()
        bars = pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * hi_rel,
                             "low": np.minimum(open_, close) * lo_rel, "close": close,
                             "volume": own["volume"].to_numpy()}, index=own.index)
        out[sym] = validate_bars(bars, name=f"synthetic {sym}")
    return out


__all__ = ["SYNTHETIC_SYMBOLS", "synthetic_universe"]
