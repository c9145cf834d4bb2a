"""Pandas wrappers of the indicator kernels: Series in, Series (or DataFrame of Series) out, same index.

Each wrapper validates its options (keyword-only), converts the inputs to float64 arrays, calls
the matching ``*_nb`` kernel in :mod:`peaktrade.indicators.nb` and restores the index. Definitions
(warm-up, NaN handling, Wilder smoothing, population standard deviation) are documented on the
kernels.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from peaktrade.errors import IndicatorError, bad_value
from peaktrade.indicators import nb


def _arr(x: pd.Series, name: str) -> np.ndarray:
    if not isinstance(x, pd.Series):
        raise IndicatorError(bad_value(name, type(x).__name__, "a pandas Series"))
    try:
        return np.ascontiguousarray(x.to_numpy(dtype=np.float64, na_value=np.nan))
    except (TypeError, ValueError):
        raise IndicatorError(bad_value(name, str(x.dtype), "a numeric Series")) from None


def _same_index(name: str, ref: pd.Series, other: pd.Series) -> None:
    if not ref.index.equals(other.index):
        raise IndicatorError(f"{name} is invalid: expected the same index as the first input")


def _window(value: object, name: str = "window", *, low: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
        raise IndicatorError(bad_value(name, value, f"an int >= {low}"))
    return int(value)


def _float(value: object, name: str, *, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise IndicatorError(bad_value(name, value, "a number"))
    v = float(value)
    if math.isnan(v) or (low is not None and v < low) or (high is not None and v > high):
        raise IndicatorError(bad_value(name, value, f"a number in [{low}, {high}]"))
    return v


def _out(values: np.ndarray, like: pd.Series, name: str) -> pd.Series:
    return pd.Series(values, index=like.index, name=name)


def _hlc(high: pd.Series, low: pd.Series, close: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, lo, c = _arr(high, "high"), _arr(low, "low"), _arr(close, "close")
    _same_index("low", high, low)
    _same_index("close", high, close)
    return h, lo, c


def sma(x: pd.Series, *, window: int) -> pd.Series:
    """Return the simple moving average over ``window`` bars."""
    return _out(nb.sma_nb(_arr(x, "x"), _window(window)), x, f"sma_{window}")


def ema(x: pd.Series, *, window: int) -> pd.Series:
    """Return the EMA with alpha = 2 / (window + 1), seeded with the first ``window``-bar SMA."""
    return _out(nb.ema_nb(_arr(x, "x"), _window(window)), x, f"ema_{window}")


def rma(x: pd.Series, *, window: int) -> pd.Series:
    """Return Wilder's moving average (alpha = 1 / window), seeded with the first SMA."""
    return _out(nb.rma_nb(_arr(x, "x"), _window(window)), x, f"rma_{window}")


def rolling_std(x: pd.Series, *, window: int, ddof: int = 0) -> pd.Series:
    """Return the rolling standard deviation (population by default; ``ddof=1`` for the sample one)."""
    if ddof not in (0, 1):
        raise IndicatorError(bad_value("ddof", ddof, "0 or 1"))
    w = _window(window, low=1 + ddof)
    return _out(nb.rolling_std_nb(_arr(x, "x"), w, ddof), x, f"std_{window}")


def rolling_quantile(x: pd.Series, *, window: int, q: float) -> pd.Series:
    """Return the rolling ``q`` quantile (linear interpolation) over ``window`` bars."""
    qq = _float(q, "q", low=0.0, high=1.0)
    return _out(nb.rolling_quantile_nb(_arr(x, "x"), _window(window), qq), x, f"quantile_{window}_{q}")


def rsi(close: pd.Series, *, window: int = 14) -> pd.Series:
    """Return Wilder's RSI (0–100)."""
    return _out(nb.rsi_nb(_arr(close, "close"), _window(window)), close, f"rsi_{window}")


def bollinger(close: pd.Series, *, window: int = 20, k: float = 2.0) -> pd.DataFrame:
    """Return Bollinger bands as columns ``mid``, ``upper``, ``lower`` (SMA ± k population stds)."""
    mid, up, lo = nb.bollinger_nb(_arr(close, "close"), _window(window), _float(k, "k", low=0.0))
    return pd.DataFrame({"mid": mid, "upper": up, "lower": lo}, index=close.index)


def macd(close: pd.Series, *, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """Return MACD as columns ``macd``, ``signal``, ``hist`` (EMA(fast) − EMA(slow), its EMA, difference)."""
    f, s, g = _window(fast, "fast"), _window(slow, "slow"), _window(signal, "signal")
    if f >= s:
        raise IndicatorError(bad_value("fast", fast, f"an int < slow={slow}"))
    line, sig, hist = nb.macd_nb(_arr(close, "close"), f, s, g)
    return pd.DataFrame({"macd": line, "signal": sig, "hist": hist}, index=close.index)


def roc(x: pd.Series, *, window: int) -> pd.Series:
    """Return the rate of change ``x[t] / x[t-window] - 1`` as a fraction."""
    return _out(nb.roc_nb(_arr(x, "x"), _window(window)), x, f"roc_{window}")


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """Return the true range (NaN on the first bar, which has no previous close)."""
    return _out(nb.true_range_nb(*_hlc(high, low, close)), close, "true_range")


def atr(high: pd.Series, low: pd.Series, close: pd.Series, *, window: int = 14) -> pd.Series:
    """Return Wilder's average true range."""
    return _out(nb.atr_nb(*_hlc(high, low, close), _window(window)), close, f"atr_{window}")


def adx(high: pd.Series, low: pd.Series, close: pd.Series, *, window: int = 14) -> pd.DataFrame:
    """Return Wilder's directional movement as columns ``adx``, ``plus_di``, ``minus_di``."""
    a, p, m = nb.adx_nb(*_hlc(high, low, close), _window(window))
    return pd.DataFrame({"adx": a, "plus_di": p, "minus_di": m}, index=close.index)


def zscore(x: pd.Series, *, window: int) -> pd.Series:
    """Return ``(x - SMA) / std`` over ``window`` bars (population std; NaN where the std is 0)."""
    return _out(nb.zscore_nb(_arr(x, "x"), _window(window, low=2)), x, f"zscore_{window}")


def donchian(high: pd.Series, low: pd.Series, *, window: int = 20) -> pd.DataFrame:
    """Return columns ``upper``/``lower``: highest high / lowest low of the previous ``window`` bars."""
    h, lo = _arr(high, "high"), _arr(low, "low")
    _same_index("low", high, low)
    up, dn = nb.donchian_nb(h, lo, _window(window))
    return pd.DataFrame({"upper": up, "lower": dn}, index=high.index)


def log_returns(close: pd.Series) -> pd.Series:
    """Return the log returns ``log(close[t] / close[t-1])``."""
    return _out(nb.log_returns_nb(_arr(close, "close")), close, "log_return")


def realized_vol(close: pd.Series, *, window: int = 20, periods_per_year: float | None = None) -> pd.Series:
    """Return the rolling population std of log returns, annualized when ``periods_per_year`` is given."""
    out = nb.realized_vol_nb(_arr(close, "close"), _window(window, low=2))
    if periods_per_year is not None:
        out = out * math.sqrt(_float(periods_per_year, "periods_per_year", low=0.0))
    return _out(out, close, f"realized_vol_{window}")


__all__ = [
    "IndicatorError", "adx", "atr", "bollinger", "donchian", "ema", "log_returns", "macd",
    "realized_vol", "rma", "roc", "rolling_quantile", "rolling_std", "rsi", "sma", "true_range",
    "zscore",
]
