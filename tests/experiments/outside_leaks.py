"""Leaks written as an outside tester would, from the public strategy contract only (tests only).

Each reads the future in a way not planted in ``leaky_strategies``. ``OUTSIDE_LEAKS`` maps a kind to
(strategy, parameters to check with, the first offending output: a regex on its name).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from leaky_strategies import _above_nb  # the causal kernel: the leaks below are in their indicators
from numba import njit

from peaktrade.indicators.nb import sma_nb
from peaktrade.strategies import CLOSE, SIGNAL_SIG, IndicatorTable, Param, Strategy


@njit(SIGNAL_SIG)
def _veto_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    # a 48-bar breakout, skipped when the NEXT close falls: on a vetoed breakout the full history never
    # fires, while a history ending on it fires (the bounds check hides the veto)
    c = ind[CLOSE]
    n = c.shape[0]
    for t in range(t0, t1):
        hi = -np.inf
        for j in range(max(0, t - 48), t):
            hi = max(hi, c[j])
        vetoed = t + 1 < n and c[t + 1] < c[t]
        entries[t - t0] = t >= 48 and c[t] > hi and not vetoed
        exits[t - t0] = False


@njit(SIGNAL_SIG)
def _ind_peek_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    # reads the NEXT value of its indicator (not of the bars) on a rare event
    x = ind[cols[0]]
    c = ind[CLOSE]
    n = x.shape[0]
    for t in range(t0, t1):
        entries[t - t0] = t + 1 < n and x[t + 1] > c[t] * 1.004
        exits[t - t0] = False


@njit(SIGNAL_SIG)
def _flag_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    # enters on a breakout unless the indicator row cols[0] flags it (a veto computed in prepare)
    c = ind[CLOSE]
    flag = ind[cols[0]]
    for t in range(t0, t1):
        hi = -np.inf
        for j in range(max(0, t - 48), t):
            hi = max(hi, c[j])
        entries[t - t0] = t >= 48 and c[t] > hi and not flag[t] > 0.5
        exits[t - t0] = False


@njit(SIGNAL_SIG)
def _kernel_max_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    # a threshold from the whole close array, computed inside the kernel
    c = ind[CLOSE]
    top = c.max()
    for t in range(t0, t1):
        entries[t - t0] = c[t] > 0.97 * top
        exits[t - t0] = c[t] < 0.9 * top


def _one(key, fn):
    def prepare(prices, combos):
        tab = IndicatorTable(prices)
        return tab.build([[tab.row(key(p), lambda p=p: fn(prices, p))] for p in combos], [[] for _ in combos])
    return prepare


def _mean_level(prices, p):
    return np.full(prices.n, np.mean(prices.close))  # "above the average price"


MEMO: dict[int, np.ndarray] = {}


def _memo_sma(prices, p):
    w = p["window"]
    if w not in MEMO:  # memoized by parameter value only
        MEMO[w] = sma_nb(prices.close, w)
    return MEMO[w]


def _rolled(prices, p):
    return np.roll(prices.close, -1)


def _z_full_std(prices, p):
    c = prices.close
    return sma_nb(c, p["window"]) + 0.5 * np.std(c)


def _maybe_centered(prices, p):
    s = pd.Series(prices.close)
    w = p["window"]
    return s.rolling(w, center=(w == 77)).mean().to_numpy()  # a bug for one window only


def _gradient(prices, p):
    return prices.close - 3.0 * np.gradient(prices.close)  # central differences read t + 1


def _rank(prices, p):
    return prices.close * (1.0 + 0.01 * (pd.Series(prices.close).rank(pct=True).to_numpy() - 0.5))


def _veto_row(prices, p):
    c = pd.Series(prices.close)
    breakout = c > c.shift(1).rolling(48).max()
    return (breakout & (c.shift(-1) < c)).astype(float).to_numpy()  # 1 on a breakout the next bar undoes


def _sma20(prices, p):
    return sma_nb(prices.close, 20)


_W = (Param("window", "int", 20, low=2, high=1000),)


def _s(name, prepare, kernel, params=()):
    return Strategy(name=f"outside_{name}", summary=name, params=params, prepare=prepare, signal_nb=kernel)


def _bars_only(prices, combos):
    return IndicatorTable(prices).build([[] for _ in combos], [[] for _ in combos])


VETO = _s("next_bar_veto", _bars_only, _veto_nb)
IND_PEEK = _s("indicator_peek", _one(lambda p: ("sma", 20), _sma20), _ind_peek_nb)
MEAN_LEVEL = _s("full_mean_level", _one(lambda p: ("mean_level",), _mean_level), _above_nb)
MEMO_SMA = _s("memo_by_param", _one(lambda p: ("memo_sma", p["window"]), _memo_sma), _above_nb, _W)
ROLLED = _s("np_roll", _one(lambda p: ("rolled",), _rolled), _above_nb)
FULL_STD = _s("full_sample_std", _one(lambda p: ("band", p["window"]), _z_full_std), _above_nb, _W)
ONE_WINDOW = _s("leaks_for_one_window", _one(lambda p: ("sma_maybe_centered", p["window"]), _maybe_centered),
                _above_nb, _W)
GRADIENT = _s("np_gradient", _one(lambda p: ("grad",), _gradient), _above_nb)
RANK = _s("full_sample_rank", _one(lambda p: ("ranked",), _rank), _above_nb)
VETO_ROW = _s("veto_row_in_prepare", _one(lambda p: ("veto",), _veto_row), _flag_nb)
KERNEL_MAX = _s("kernel_global_max", _bars_only, _kernel_max_nb)

OUTSIDE_LEAKS = {
    "a breakout vetoed when the next close falls (kernel, bounds check)": (VETO, {}, "entries"),
    "kernel reads its indicator's next value on rare events": (IND_PEEK, {}, "entries"),
    "np.mean of the whole close as a level": (MEAN_LEVEL, {}, "mean_level"),
    "prepare memoized in a module dict keyed by parameter": (MEMO_SMA, {}, "memo_sma|prepare"),
    "np.roll(close, -1)": (ROLLED, {}, "rolled"),
    "band from the full-sample std": (FULL_STD, {}, "band"),
    "centered window for one value of a large grid": (ONE_WINDOW, {"window": list(range(5, 120))},
                                                      r"sma_maybe_centered\(77\)|input"),
    "np.gradient (central differences)": (GRADIENT, {}, "grad"),
    "full-sample rank": (RANK, {}, "ranked"),
    "a rare veto computed in prepare from the next close": (VETO_ROW, {}, "veto|input"),
    "a threshold from the whole array inside the kernel": (KERNEL_MAX, {}, "entries|exits"),
}
