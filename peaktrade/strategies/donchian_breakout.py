"""Donchian channel breakout: long when the close breaks the previous ``entry_window``-bar high.

Entry: ``close[t] > max(high[t-entry_window .. t-1])`` (the channel excludes the current bar, so
the breakout uses no future data). Exit: ``close[t] < min(low[t-exit_window .. t-1])``.
Both are level conditions (an entry repeats on every new high while long; the simulator ignores
it). The previous-bar high is never below the previous-bar low, so entry and exit cannot coincide.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from peaktrade.indicators.nb import donchian_nb
from peaktrade.strategies.base import CLOSE, SIGNAL_SIG, IndicatorTable, Param, Prices, Strategy


@njit(SIGNAL_SIG, cache=True)
def signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Write the signals of bars ``t0..t1-1`` (rules in the module docstring; contract in ``base``)."""
    upper = ind[cols[0]]
    lower = ind[cols[1]]
    close = ind[CLOSE]
    for t in range(t0, t1):
        ext = close[t] < lower[t]
        entries[t - t0] = close[t] > upper[t] and not ext
        exits[t - t0] = ext


class ChannelRows:
    """Donchian rows for ``prepare``: each (side, window) row is added to ``tab`` once, and both
    sides of a window come from one :func:`~peaktrade.indicators.nb.donchian_nb` call."""

    def __init__(self, tab: IndicatorTable, prices: Prices) -> None:
        self.tab = tab
        self.prices = prices
        self._computed: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _get(self, window: int, side: int) -> np.ndarray:
        if window not in self._computed:
            self._computed[window] = donchian_nb(self.prices.high, self.prices.low, window)
        return self._computed[window][side]

    def upper(self, window: int) -> int:
        """Return the row of the highest high of the previous ``window`` bars."""
        return self.tab.row(("donchian_upper", window), lambda: self._get(window, 0))

    def lower(self, window: int) -> int:
        """Return the row of the lowest low of the previous ``window`` bars."""
        return self.tab.row(("donchian_lower", window), lambda: self._get(window, 1))


def prepare(prices, combos):
    """Return the :class:`~peaktrade.strategies.base.Prepared` rows of ``combos``, each indicator once."""
    tab = IndicatorTable(prices)
    rows = ChannelRows(tab, prices)
    cols = [[rows.upper(p["entry_window"]), rows.lower(p["exit_window"])] for p in combos]
    return tab.build(cols, [[] for _ in combos])


STRATEGY = Strategy(
    name="donchian_breakout",
    summary="Long when the close breaks the previous n-bar high, exit below the previous m-bar low.",
    params=(
        Param("entry_window", "int", 20, low=1, high=10_000,
              help="enter when close > highest high of the previous entry_window bars"),
        Param("exit_window", "int", 10, low=1, high=10_000,
              help="exit when close < lowest low of the previous exit_window bars"),
    ),
    prepare=prepare,
    signal_nb=signal_nb,
)

__all__ = ["STRATEGY", "ChannelRows"]
