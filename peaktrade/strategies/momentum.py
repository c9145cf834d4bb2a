"""Momentum: long while the rate of change is above ``threshold``, out when it drops below ``exit_threshold``.

The rate of change over ``window`` bars is ``close[t] / close[t-window] - 1`` (a fraction).
Entry: ROC > ``threshold``; exit: ROC < ``exit_threshold`` (level conditions; with
``exit_threshold <= threshold`` they never hold on the same bar).
"""

from __future__ import annotations

from numba import njit

from peaktrade.indicators.nb import roc_nb
from peaktrade.strategies.base import SIGNAL_SIG, Constraint, IndicatorTable, Param, Strategy


@njit(SIGNAL_SIG, cache=True)
def signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Write the signals of bars ``t0..t1-1`` (rules in the module docstring; contract in ``base``)."""
    roc = ind[cols[0]]
    threshold = fpar[0]
    exit_threshold = fpar[1]
    for t in range(t0, t1):
        ext = roc[t] < exit_threshold
        entries[t - t0] = roc[t] > threshold and not ext
        exits[t - t0] = ext


def prepare(prices, combos):
    """Return the :class:`~peaktrade.strategies.base.Prepared` rows of ``combos``, each indicator once."""
    tab = IndicatorTable(prices)
    close = prices.close
    cols, fpar = [], []
    for p in combos:
        cols.append([tab.row(("roc", p["window"]), roc_nb, close, p["window"])])
        fpar.append([p["threshold"], p["exit_threshold"]])
    return tab.build(cols, fpar)


STRATEGY = Strategy(
    name="momentum",
    summary="Long while the rate of change over `window` is above `threshold`, exit below `exit_threshold`.",
    params=(
        Param("window", "int", 20, low=1, high=10_000, help="rate-of-change lookback (bars)"),
        Param("threshold", "float", 0.02, low=-1.0, high=100.0,
              help="enter when close/close[window bars ago] - 1 > threshold (0.02 = +2 %)"),
        Param("exit_threshold", "float", 0.0, low=-1.0, high=100.0,
              help="exit when the rate of change < exit_threshold"),
    ),
    prepare=prepare,
    signal_nb=signal_nb,
    constraints=(Constraint("exit_threshold <= threshold", lambda p: p["exit_threshold"] <= p["threshold"]),),
)

__all__ = ["STRATEGY"]
