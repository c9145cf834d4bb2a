"""Moving-average crossover: long when the fast MA crosses above the slow MA, out on the opposite cross.

A cross needs the fast MA strictly above (below) the slow MA after having been strictly below
(above) it, with no NaN in between; a tie is not a cross (the same rule as vectorbt's
``ma_crossed_above``/``ma_crossed_below``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from peaktrade.indicators.nb import ema_nb, sma_nb
from peaktrade.strategies.base import (
    SIGNAL_SIG,
    Constraint,
    IndicatorTable,
    Param,
    Strategy,
)


@njit(cache=True)
def cross_step_nb(a, b, state, k):
    """Advance the cross detector stored in ``state[k:k+4]``; return (crossed_above, crossed_below).

    state[k]   = 1 once a < b was seen (since the last NaN), state[k+1] = 1 if the previous bar had a > b,
    state[k+2] = 1 once a > b was seen,                       state[k+3] = 1 if the previous bar had a < b.
    """
    up = False
    down = False
    if np.isnan(a) or np.isnan(b):
        state[k] = 0.0
        state[k + 1] = 0.0
        state[k + 2] = 0.0
        state[k + 3] = 0.0
    elif a > b:
        up = state[k] == 1.0 and state[k + 1] == 0.0
        state[k + 1] = 1.0
        state[k + 2] = 1.0
        state[k + 3] = 0.0
    elif a < b:
        down = state[k + 2] == 1.0 and state[k + 3] == 0.0
        state[k] = 1.0
        state[k + 1] = 0.0
        state[k + 3] = 1.0
    else:
        state[k + 1] = 0.0
        state[k + 3] = 0.0
    return up, down


@njit(SIGNAL_SIG, cache=True)
def signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    fast = ind[cols[0]]
    slow = ind[cols[1]]
    for t in range(t0, t1):
        up, down = cross_step_nb(fast[t], slow[t], state, 0)
        entries[t - t0] = up
        exits[t - t0] = down


def prepare(prices, combos):
    tab = IndicatorTable(prices)
    close = prices.close
    cols = []
    for p in combos:
        fn = sma_nb if p["kind"] == "sma" else ema_nb
        cols.append([
            tab.row((p["kind"], p["fast"]), lambda w=p["fast"], f=fn: f(close, w)),
            tab.row((p["kind"], p["slow"]), lambda w=p["slow"], f=fn: f(close, w)),
        ])
    return tab.build(cols, [[] for _ in combos])


STRATEGY = Strategy(
    name="ma_crossover",
    summary="Long on a fast/slow moving-average cross up, exit on the cross down.",
    params=(
        Param("fast", "int", 20, low=1, high=10_000, help="fast moving-average window (bars)"),
        Param("slow", "int", 100, low=2, high=10_000, help="slow moving-average window (bars)"),
        Param("kind", "choice", "sma", choices=("sma", "ema"), help="moving-average type"),
    ),
    prepare=prepare,
    signal_nb=signal_nb,
    constraints=(Constraint("fast < slow", lambda p: p["fast"] < p["slow"]),),
    n_state=4,
)

__all__ = ["STRATEGY", "cross_step_nb"]
