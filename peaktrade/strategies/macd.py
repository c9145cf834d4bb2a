"""MACD crossover: long when the MACD line crosses above its signal line, out on the cross below.

The line is EMA(``fast``) − EMA(``slow``) of the close, the signal line its EMA(``signal``)
(SMA-seeded EMAs, see :func:`~peaktrade.indicators.nb.macd_nb`). Crosses follow
:func:`~peaktrade.strategies.ma_crossover.cross_step_nb` (strict, NaN resets).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from peaktrade.indicators.nb import ema_nb
from peaktrade.strategies.base import SIGNAL_SIG, Constraint, IndicatorTable, Param, Strategy
from peaktrade.strategies.ma_crossover import cross_step_nb


@njit(SIGNAL_SIG, cache=True)
def signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Write the signals of bars ``t0..t1-1`` (rules in the module docstring; contract in ``base``)."""
    line = ind[cols[0]]
    sig = ind[cols[1]]
    for t in range(t0, t1):
        up, down = cross_step_nb(line[t], sig[t], state, 0)
        entries[t - t0] = up
        exits[t - t0] = down


def prepare(prices, combos):
    """Return the :class:`~peaktrade.strategies.base.Prepared` rows of ``combos``, each indicator once."""
    tab = IndicatorTable(prices)
    close = prices.close
    # EMAs and lines are cached here, not stored as rows: the signal reads only line and signal.
    emas: dict[int, np.ndarray] = {}
    lines: dict[tuple[int, int], np.ndarray] = {}

    def ema(w):
        if w not in emas:
            emas[w] = ema_nb(close, w)
        return emas[w]

    def line(f, s):
        if (f, s) not in lines:
            lines[(f, s)] = ema(f) - ema(s)
        return lines[(f, s)]

    cols = []
    for p in combos:
        f, s, g = p["fast"], p["slow"], p["signal"]
        ln = tab.row(("macd", f, s), lambda f=f, s=s: line(f, s))
        sg = tab.row(("macd_signal", f, s, g), lambda f=f, s=s, g=g: ema_nb(line(f, s), g))
        cols.append([ln, sg])
    return tab.build(cols, [[] for _ in combos])


STRATEGY = Strategy(
    name="macd",
    summary="Long when the MACD line crosses above its signal line, exit on the cross below.",
    params=(
        Param("fast", "int", 12, low=1, high=10_000, help="fast EMA window (bars)"),
        Param("slow", "int", 26, low=2, high=10_000, help="slow EMA window (bars)"),
        Param("signal", "int", 9, low=1, high=10_000, help="signal-line EMA window (bars)"),
    ),
    prepare=prepare,
    signal_nb=signal_nb,
    constraints=(Constraint("fast < slow", lambda p: p["fast"] < p["slow"]),),
    n_state=4,
)

__all__ = ["STRATEGY"]
