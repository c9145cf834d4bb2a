"""ATR band breakout: long when the close clears SMA + k·ATR, out when it falls back below the SMA.

Entry: close > SMA(``window``) + ``k`` · ATR(``atr_window``) (Wilder ATR); exit: close < SMA(``window``).
With ``k >= 0`` the two never hold on the same bar.
"""

from __future__ import annotations

from numba import njit

from peaktrade.indicators.nb import atr_nb, sma_nb
from peaktrade.strategies.base import CLOSE, SIGNAL_SIG, IndicatorTable, Param, Strategy


@njit(SIGNAL_SIG, cache=True)
def signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Write the signals of bars ``t0..t1-1`` (rules in the module docstring; contract in ``base``)."""
    mid = ind[cols[0]]
    atr = ind[cols[1]]
    close = ind[CLOSE]
    k = fpar[0]
    for t in range(t0, t1):
        ext = close[t] < mid[t]
        entries[t - t0] = close[t] > mid[t] + k * atr[t] and not ext
        exits[t - t0] = ext


def prepare(prices, combos):
    """Return the :class:`~peaktrade.strategies.base.Prepared` rows of ``combos``, each indicator once."""
    tab = IndicatorTable(prices)
    cols, fpar = [], []
    for p in combos:
        mid = tab.row(("sma", p["window"]), sma_nb, prices.close, p["window"])
        atr = tab.row(("atr", p["atr_window"]), atr_nb, prices.high, prices.low, prices.close,
                      p["atr_window"])
        cols.append([mid, atr])
        fpar.append([p["k"]])
    return tab.build(cols, fpar)


STRATEGY = Strategy(
    name="atr_band_breakout",
    summary="Long when the close clears SMA + k*ATR, exit when it falls below the SMA.",
    params=(
        Param("window", "int", 20, low=1, high=10_000, help="SMA window (bars): the band's centre and exit line"),
        Param("atr_window", "int", 14, low=1, high=10_000, help="ATR window (bars, Wilder smoothing)"),
        Param("k", "float", 2.0, low=0.0, high=20.0, help="enter when close > SMA + k * ATR"),
    ),
    prepare=prepare,
    signal_nb=signal_nb,
)

__all__ = ["STRATEGY"]
