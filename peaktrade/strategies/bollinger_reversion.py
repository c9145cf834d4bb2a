"""Bollinger mean reversion: long when the close crosses below the lower band, out back at the mid band.

Entry: the close crosses below the lower band SMA(``window``) − ``k``·std (strictly above it, then
strictly below, see :func:`~peaktrade.strategies.ma_crossover.cross_step_nb`). Exit: the close is
at or above the mid band (the SMA). std is the population standard deviation.
"""

from __future__ import annotations

from numba import njit

from peaktrade.indicators.nb import bollinger_nb, sma_nb
from peaktrade.strategies.base import CLOSE, SIGNAL_SIG, IndicatorTable, Param, Strategy
from peaktrade.strategies.ma_crossover import cross_step_nb


@njit(SIGNAL_SIG, cache=True)
def signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Write the signals of bars ``t0..t1-1`` (rules in the module docstring; contract in ``base``)."""
    mid = ind[cols[0]]
    lower = ind[cols[1]]
    close = ind[CLOSE]
    for t in range(t0, t1):
        _, down = cross_step_nb(close[t], lower[t], state, 0)
        ext = close[t] >= mid[t]
        entries[t - t0] = down and not ext
        exits[t - t0] = ext


def prepare(prices, combos):
    """Return the :class:`~peaktrade.strategies.base.Prepared` rows of ``combos``, each indicator once."""
    tab = IndicatorTable(prices)
    close = prices.close
    cols = []
    for p in combos:
        w, k = p["window"], p["k"]
        mid = tab.row(("sma", w), sma_nb, close, w)
        lo = tab.row(("bb_lower", w, k), lambda w=w, k=k: bollinger_nb(close, w, k)[2])
        cols.append([mid, lo])
    return tab.build(cols, [[] for _ in combos])


STRATEGY = Strategy(
    name="bollinger_reversion",
    summary="Long when the close crosses below the lower Bollinger band, exit back at the mid band.",
    params=(
        Param("window", "int", 20, low=2, high=10_000, help="band window (bars): SMA and population std"),
        Param("k", "float", 2.0, low=0.0, high=10.0, help="lower band = SMA - k * std"),
    ),
    prepare=prepare,
    signal_nb=signal_nb,
    n_state=4,
)

__all__ = ["STRATEGY"]
