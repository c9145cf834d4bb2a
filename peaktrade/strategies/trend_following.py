"""Trend following with Wilder's ADX/DI: long when +DI crosses above −DI in a trending market.

Entry: +DI crosses above −DI (strict cross, see
:func:`~peaktrade.strategies.ma_crossover.cross_step_nb`) while ADX > ``adx_min``.
Exit: −DI crosses above +DI, or ADX < ``adx_min`` (the trend faded). ADX needs
``2 * window - 1`` bars of warm-up; no entry before it.
"""

from __future__ import annotations

from numba import njit

from peaktrade.indicators.nb import adx_nb
from peaktrade.strategies.base import SIGNAL_SIG, IndicatorTable, Param, Strategy
from peaktrade.strategies.ma_crossover import cross_step_nb


@njit(SIGNAL_SIG, cache=True)
def signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Write the signals of bars ``t0..t1-1`` (rules in the module docstring; contract in ``base``)."""
    adx = ind[cols[0]]
    plus = ind[cols[1]]
    minus = ind[cols[2]]
    adx_min = fpar[0]
    for t in range(t0, t1):
        up, down = cross_step_nb(plus[t], minus[t], state, 0)
        ext = down or adx[t] < adx_min
        entries[t - t0] = up and adx[t] > adx_min and not ext
        exits[t - t0] = ext


def prepare(prices, combos):
    """Return the :class:`~peaktrade.strategies.base.Prepared` rows of ``combos``, each indicator once."""
    tab = IndicatorTable(prices)
    cache: dict[int, tuple] = {}

    def dmi(w, i):
        if w not in cache:
            cache[w] = adx_nb(prices.high, prices.low, prices.close, w)
        return cache[w][i]

    cols, fpar = [], []
    for p in combos:
        w = p["window"]
        cols.append([tab.row((name, w), lambda w=w, i=i: dmi(w, i))
                     for i, name in enumerate(("adx", "plus_di", "minus_di"))])
        fpar.append([p["adx_min"]])
    return tab.build(cols, fpar)


STRATEGY = Strategy(
    name="trend_following",
    summary="Long when +DI crosses above -DI with ADX > `adx_min`; exit on the opposite cross or ADX < `adx_min`.",
    params=(
        Param("window", "int", 14, low=2, high=1_000, help="DI/ADX window (bars, Wilder smoothing)"),
        Param("adx_min", "float", 20.0, low=0.0, high=100.0,
              help="trend strength: enter only while ADX > adx_min, exit once ADX < adx_min"),
    ),
    prepare=prepare,
    signal_nb=signal_nb,
    n_state=4,
)

__all__ = ["STRATEGY"]
