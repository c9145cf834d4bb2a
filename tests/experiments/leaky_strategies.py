"""Planted leaky strategies for the lookahead check (tests only; never registered in the library).

Each reads the future in one known way. ``LEAKS`` maps a leak kind to (strategy, parameters to check
with, what the check must name as the first offending output: a signal name, or a prefix of an
indicator name).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from peaktrade.data import higher_timeframe
from peaktrade.indicators.nb import sma_nb
from peaktrade.strategies import CLOSE, SIGNAL_SIG, IndicatorTable, Param, Strategy


# -- kernels --------------------------------------------------------------------------------------
@njit(SIGNAL_SIG)
def _rare_peek_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    # buys before a rare jump of the NEXT close (> 2.8 sigma of a 1 % walk: ~0.25 % of bars); the bounds
    # check makes it silent on the last bar, so only a history ending on such a bar shows it
    c = ind[CLOSE]
    n = c.shape[0]
    for t in range(t0, t1):
        entries[t - t0] = t + 1 < n and c[t + 1] > c[t] * 1.028
        exits[t - t0] = False


@njit(SIGNAL_SIG)
def _above_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    # causal: long while close is above the indicator row cols[0]
    x = ind[cols[0]]
    c = ind[CLOSE]
    for t in range(t0, t1):
        entries[t - t0] = c[t] > x[t]
        exits[t - t0] = c[t] < x[t]


@njit(SIGNAL_SIG)
def _band_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    # causal: enter when the indicator row is above fpar[0], exit below fpar[1]
    x = ind[cols[0]]
    for t in range(t0, t1):
        entries[t - t0] = x[t] > fpar[0]
        exits[t - t0] = x[t] < fpar[1]


@njit(SIGNAL_SIG)
def _stop_ahead_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    # causal entry (close above sma); exit when the low of the next bars (cols[1]) will breach a 2 % stop
    m = ind[cols[0]]
    fut_low = ind[cols[1]]
    c = ind[CLOSE]
    for t in range(t0, t1):
        entries[t - t0] = c[t] > m[t]
        exits[t - t0] = fut_low[t] < c[t] * 0.98


@njit(SIGNAL_SIG)
def _knows_the_end_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    # reads the length of the data: flat for the last 24 bars "because the backtest ends"
    c = ind[CLOSE]
    n = c.shape[0]
    m = ind[cols[0]]
    for t in range(t0, t1):
        entries[t - t0] = c[t] > m[t] and t < n - 24
        exits[t - t0] = t >= n - 24


@njit(SIGNAL_SIG)
def _param_peek_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    # "confirm" bars of confirmation: with confirm > 0 it reads close[t + confirm]
    c = ind[CLOSE]
    n = c.shape[0]
    lag = int(fpar[0])
    for t in range(t0, t1):
        j = t + lag if t + lag < n else t
        entries[t - t0] = c[j] > c[t] * 1.001
        exits[t - t0] = c[j] < c[t] * 0.999


# -- prepare functions ----------------------------------------------------------------------------
def _one_row(key, fn, fpar=()):
    def prepare(prices, combos):
        tab = IndicatorTable(prices)
        cols = [[tab.row(key(p), lambda p=p: fn(prices, p))] for p in combos]
        return tab.build(cols, [list(fpar) for _ in combos])
    return prepare


def _shift_back(prices, p):
    return np.r_[prices.close[1:], np.nan]  # shift(-1): tomorrow's close


def _global_z(prices, p):
    m = sma_nb(prices.close, p["window"])
    return (m - np.nanmean(m)) / np.nanstd(m)


def _global_minmax(prices, p):
    c = prices.close
    return (c - c.min()) / (c.max() - c.min())


def _centered(prices, p):
    return pd.Series(prices.close).rolling(p["window"], center=True).mean().to_numpy()


def _bfilled(prices, p):
    return pd.Series(sma_nb(prices.close, p["window"])).bfill().to_numpy()


def _last_close(prices, p):
    return np.full(prices.n, prices.close[-1])  # "above the latest price": the last bar of the data


def _backwards_mean(prices, p):
    r = np.r_[0.0, np.diff(np.log(prices.close))]
    return (np.cumsum(r[::-1]) / np.arange(1, prices.n + 1))[::-1]  # mean return from t to the END


def _naive_htf(prices, p):
    # resample + reindex: the 4h bar shows its close from its OPEN (00:00 already sees 03:00's close)
    f = prices.frame()
    return f["close"].resample("4h").last().reindex(f.index, method="ffill").to_numpy()


def _safe_htf(prices, p):
    return higher_timeframe(prices, "4h", source_timeframe="1h")["close"].to_numpy()


def _stop_prepare(prices, combos):
    tab = IndicatorTable(prices)
    low = pd.Series(prices.low)
    cols = [[tab.row(("sma", 20), lambda: sma_nb(prices.close, 20)),
             tab.row(("future_low", 3), lambda: low.rolling(3).min().shift(-3).to_numpy())] for _ in combos]
    return tab.build(cols, [[] for _ in combos])


#: The cache of ``cached_full_history``: keyed by window, filled by the first call, refreshed by a longer one.
CACHE: dict[int, np.ndarray] = {}


def _cached(prices, p):
    w = p["window"]
    if w not in CACHE or len(CACHE[w]) < prices.n:
        CACHE[w] = _global_z(prices, p)
    return CACHE[w][: prices.n]


#: The global of ``global_history``: the full close history, set like a module loading its data at import.
GLOBAL: dict[str, np.ndarray] = {}


def _on_global(prices, p):
    g = pd.Series(GLOBAL["close"])
    future_max = g[::-1].rolling(24, min_periods=1).max()[::-1].to_numpy()  # best close of the next day
    return (future_max / g.to_numpy())[: prices.n]


_WINDOW = (Param("window", "int", 20, low=2, high=1000),)


def _s(name, prepare, kernel, params=()):
    return Strategy(name=f"leak_{name}", summary=f"planted leak: {name}", params=params, prepare=prepare,
                    signal_nb=kernel)


def _bars_only(prices, combos):
    return IndicatorTable(prices).build([[] for _ in combos], [[] for _ in combos])


def _sma_only(prices, combos):
    tab = IndicatorTable(prices)
    return tab.build([[tab.row(("sma", 20), lambda: sma_nb(prices.close, 20))] for _ in combos],
                     [[] for _ in combos])


def _confirm_prepare(prices, combos):
    return IndicatorTable(prices).build([[] for _ in combos], [[p["confirm"]] for p in combos])


RARE_PEEK = _s("rare_next_close_peek", _bars_only, _rare_peek_nb)
SHIFT_BACK = _s("shift_minus_one", _one_row(lambda p: ("next_close",), _shift_back), _above_nb)
GLOBAL_Z = _s("global_zscore", _one_row(lambda p: ("global_z", p["window"]), _global_z, (0.5, -0.5)), _band_nb,
              _WINDOW)
GLOBAL_MINMAX = _s("global_minmax", _one_row(lambda p: ("minmax",), _global_minmax, (0.8, 0.2)), _band_nb)
CENTERED = _s("centered_window", _one_row(lambda p: ("centered_sma", p["window"]), _centered), _above_nb,
              _WINDOW)
BFILL = _s("bfill_warmup", _one_row(lambda p: ("sma_bfill", p["window"]), _bfilled), _above_nb, _WINDOW)
CACHED = _s("cached_full_history", _one_row(lambda p: ("cached_z", p["window"]), _cached, (0.5, -0.5)),
            _band_nb, _WINDOW)
ON_GLOBAL = _s("global_history", _one_row(lambda p: ("future_max_ratio",), _on_global, (1.01, 1.001)), _band_nb)
STOP_AHEAD = _s("future_low_stop", _stop_prepare, _stop_ahead_nb)
NAIVE_HTF = _s("naive_resample", _one_row(lambda p: ("close_4h",), _naive_htf), _above_nb)
LAST_CLOSE = _s("last_close_threshold", _one_row(lambda p: ("last_close",), _last_close), _above_nb)
KNOWS_END = _s("len_of_data", _sma_only, _knows_the_end_nb)
BACKWARDS = _s("backwards_cumulative", _one_row(lambda p: ("mean_to_end",), _backwards_mean, (0.0, 0.0)), _band_nb)
PARAM_PEEK = _s("param_dependent_peek", _confirm_prepare, _param_peek_nb,
                (Param("confirm", "int", 0, low=0, high=5, help="bars of confirmation"),))

#: The honest counterpart of NAIVE_HTF: the same rule on peaktrade's higher_timeframe.
SAFE_HTF = Strategy(name="htf_safe", summary="close above the last closed 4h close", params=(),
                    prepare=_one_row(lambda p: ("close_4h",), _safe_htf), signal_nb=_above_nb)

#: kind -> (strategy, check parameters, first offending output: a signal name or an indicator name prefix)
LEAKS = {
    "next-close peek behind a bounds check on rare events": (RARE_PEEK, {}, "entries"),
    "shift(-1) in prepare": (SHIFT_BACK, {}, "next_close"),
    "full-history mean/std normalization": (GLOBAL_Z, {}, "global_z"),
    "global max/min scaling": (GLOBAL_MINMAX, {}, "minmax"),
    "centered rolling window": (CENTERED, {}, "centered_sma"),
    "bfill of warm-up NaNs": (BFILL, {}, "sma_bfill"),
    "cached full-history indicator across calls": (CACHED, {}, "cached_z"),
    "indicator computed on a global full history": (ON_GLOBAL, {}, "future_max_ratio"),
    "future low in a stop": (STOP_AHEAD, {}, "future_low"),
    "higher timeframe resampled without waiting for its close": (NAIVE_HTF, {}, "close_4h"),
    "last bar value as a threshold": (LAST_CLOSE, {}, "last_close"),
    "length of the data in the kernel": (KNOWS_END, {}, "entries|exits"),
    "cumulative statistic computed backwards": (BACKWARDS, {}, "mean_to_end"),
    "parameter-dependent peek": (PARAM_PEEK, {"confirm": [0, 1, 3]}, "entries|exits"),
}
