"""Moving-average crossover: long when the fast MA crosses above the slow MA, out on the opposite cross.

A cross needs the fast MA strictly above (below) the slow MA after having been strictly below
(above) it, with no NaN in between; a tie is not a cross (the same rule as vectorbt's
``ma_crossed_above``/``ma_crossed_below``).

A tie is decided on the prices as published, not on their float64 images: two values within
``TIE_RTOL`` of the larger magnitude are equal (see :func:`relation_nb`). Without it a pair of SMAs
whose published (decimal) means are equal could still read as a cross: on the real BTC hourly closes
fast 5 / slow 160 at 2018-10-02 03:00 have the same decimal mean 6555.44, but the exact means of the
float64 closes differ by 1.5e-13 and round to neighbouring floats.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from peaktrade.indicators.nb import ema_nb, sma_rows_nb
from peaktrade.strategies.base import (
    SIGNAL_SIG,
    Constraint,
    IndicatorTable,
    Param,
    Strategy,
)

#: Relative tolerance of a tie. Each float64 close is its published decimal price within 2**-53 relative,
#: so for positive prices the exact mean of a window of float closes is within 2**-53 of the published
#: window mean, and a correctly rounded SMA (``indicators.nb.sma_nb``) within 2**-52: two SMAs whose
#: published means are equal differ by at most 2**-51 of their value. 2**-50 leaves a factor 2 of room;
#: values that differ by less are indistinguishable from the representation error of the inputs.
TIE_RTOL = 2.0**-50

#: Relation codes of :func:`relation_nb`.
REL_BELOW = -1
REL_TIE = 0
REL_ABOVE = 1
REL_NAN = 2


@njit(cache=True, inline="always")
def relation_nb(a, b):
    """Return how ``a`` relates to ``b``: REL_ABOVE, REL_BELOW, REL_TIE (within ``TIE_RTOL`` of the
    larger magnitude) or REL_NAN (either is NaN). Written without branches (it runs for every bar of
    every combination of a sweep)."""
    d = a - b
    tol = TIE_RTOL * max(abs(a), abs(b))
    tol = tol if tol < np.inf else 0.0  # an infinite value is above (below) every finite one
    rel = (1 if d > tol else 0) - (1 if d < -tol else 0)
    return REL_NAN if (a != a) | (b != b) else rel


@njit(cache=True)
def cross_update_nb(a, b, below, was_above, above, was_below):
    """One step of the cross detector on scalars; return (crossed_above, crossed_below, *new state).

    ``below``: a < b was seen since the last NaN; ``was_above``: the previous bar had a > b;
    ``above``: a > b was seen since the last NaN; ``was_below``: the previous bar had a < b.
    """
    return cross_rel_update_nb(relation_nb(a, b), below, was_above, above, was_below)


@njit(cache=True, inline="always")
def cross_rel_update_nb(rel, below, was_above, above, was_below):
    """:func:`cross_update_nb` given the relation code of the two values (:func:`relation_nb`)."""
    up = False
    down = False
    if rel == REL_NAN:
        below = False
        was_above = False
        above = False
        was_below = False
    elif rel == REL_ABOVE:
        up = below and not was_above
        was_above = True
        above = True
        was_below = False
    elif rel == REL_BELOW:
        down = above and not was_below
        below = True
        was_above = False
        was_below = True
    else:
        was_above = False
        was_below = False
    return up, down, below, was_above, above, was_below


@njit(cache=True)
def cross_step_nb(a, b, state, k):
    """Advance the cross detector kept in ``state[k:k+4]``; return (crossed_above, crossed_below)."""
    up, down, s0, s1, s2, s3 = cross_update_nb(a, b, state[k] == 1.0, state[k + 1] == 1.0,
                                                state[k + 2] == 1.0, state[k + 3] == 1.0)
    state[k], state[k + 1], state[k + 2], state[k + 3] = 1.0 if s0 else 0.0, 1.0 if s1 else 0.0, 1.0 if s2 else 0.0, 1.0 if s3 else 0.0
    return up, down


#: Bars per chunk of the signal scan: the relations of a chunk's bars are computed in one branch-free
#: (vectorized) pass into two 64-bit masks.
CHUNK = 64
_ONE = np.uint64(1)
_NONE = np.uint64(0)


@njit(cache=True, inline="always")
def relation_bits_nb(fast, slow, t, n):
    """Return ``(above, below)``: bit ``i`` of ``above`` (``below``) is set when bar ``t + i`` is REL_ABOVE
    (REL_BELOW) in the sense of :func:`relation_nb`, for ``i < n <= CHUNK``. A bar in neither mask is a
    tie, a NaN or has an infinite value (its tolerance is then inf): the caller asks :func:`relation_nb`."""
    above = _NONE
    below = _NONE
    fs = fast[t:t + n]  # views indexed from 0: no negative-index wraparound, so the loads are contiguous
    ss = slow[t:t + n]
    for i in range(n):
        a = fs[i]
        b = ss[i]
        d = a - b
        tol = TIE_RTOL * max(abs(a), abs(b))  # with a NaN, d is NaN: in neither mask whatever tol is
        bit = _ONE << np.uint64(i)
        above |= bit if d > tol else _NONE
        below |= bit if d < -tol else _NONE
    return above, below


# without reference counts (it allocates nothing): the sweep's threads call it once per block of every
# combination, and each count would be an atomic on a cache line the threads share (see backtest/nb.py)
@njit(SIGNAL_SIG, cache=True, _nrt=False)
def signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Step the cross detector over bars ``t0..t1-1``.

    The detector's state changes only on a bar whose relation of the two MAs (:func:`relation_nb`:
    above, below, tie, NaN) differs from the previous bar's: a repeated relation is a no-op once the
    state reflects it. So the relations of each chunk of bars are computed branch-free into bit masks
    (:func:`relation_bits_nb`), and only the bars whose relation may differ from the previous bar's
    are stepped: the first bar of the call, a change of mask, and every bar in neither mask (a tie or
    a NaN, told apart by :func:`relation_nb`). The signals are those of the plain loop.
    """
    fast = ind[cols[0]]
    slow = ind[cols[1]]
    s0, s1, s2, s3 = state[0] == 1.0, state[1] == 1.0, state[2] == 1.0, state[3] == 1.0
    m = t1 - t0
    entries[:m] = False
    exits[:m] = False
    last_above = _NONE  # the previous chunk's last bar, in each mask (none: the call's first bar is stepped)
    last_below = _NONE
    for c0 in range(0, m, CHUNK):
        n = min(CHUNK, m - c0)
        if n == CHUNK:  # a constant trip count: the pass is unrolled and vectorized without a remainder loop
            above, below = relation_bits_nb(fast, slow, t0 + c0, CHUNK)
        else:
            above, below = relation_bits_nb(fast, slow, t0 + c0, n)
        step = (above ^ ((above << _ONE) | last_above)) | (below ^ ((below << _ONE) | last_below)) | ~(above | below)
        if n < CHUNK:
            step &= (_ONE << np.uint64(n)) - _ONE
        last_above = (above >> np.uint64(n - 1)) & _ONE
        last_below = (below >> np.uint64(n - 1)) & _ONE
        while step != _NONE:
            i = trailing_zeros(step)
            step &= step - _ONE
            if (above >> i) & _ONE:
                rel = REL_ABOVE
            elif (below >> i) & _ONE:
                rel = REL_BELOW
            else:
                rel = relation_nb(fast[t0 + c0 + i], slow[t0 + c0 + i])
            up, down, s0, s1, s2, s3 = cross_rel_update_nb(rel, s0, s1, s2, s3)
            entries[c0 + i] = up
            exits[c0 + i] = down
    state[0], state[1], state[2], state[3] = 1.0 if s0 else 0.0, 1.0 if s1 else 0.0, 1.0 if s2 else 0.0, 1.0 if s3 else 0.0


def prepare(prices, combos):
    tab = IndicatorTable(prices)
    close = prices.close
    # every SMA window in one batch (built together across windows, see sma_rows_nb); EMAs row by row
    windows = sorted({p[w] for p in combos if p["kind"] == "sma" for w in ("fast", "slow")})
    sma = dict(zip(windows, tab.rows([("sma", w) for w in windows], sma_rows_nb, close,
                                      np.array(windows, dtype=np.int64))))
    cols = [[sma[p[w]] if p["kind"] == "sma" else tab.row(("ema", p[w]), ema_nb, close, p[w])  # deferred
             for w in ("fast", "slow")] for p in combos]
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

__all__ = ["STRATEGY", "TIE_RTOL", "cross_step_nb", "relation_nb"]
