"""Z-score mean reversion: long when the close is ``entry_z`` stds below its mean, out near the mean.

z = (close − SMA(``window``)) / std(``window``) (population std; NaN on a flat window).
Entry: z < −``entry_z``; exit: z > −``exit_z`` (``exit_z = 0``: back above the mean). With
``exit_z < entry_z`` the two never hold on the same bar.
"""

from __future__ import annotations

from numba import njit

from peaktrade.indicators.nb import zscore_nb
from peaktrade.strategies.base import SIGNAL_SIG, Constraint, IndicatorTable, Param, Strategy


@njit(SIGNAL_SIG, cache=True)
def signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Write the signals of bars ``t0..t1-1`` (rules in the module docstring; contract in ``base``)."""
    z = ind[cols[0]]
    entry_z = fpar[0]
    exit_z = fpar[1]
    for t in range(t0, t1):
        ext = z[t] > -exit_z
        entries[t - t0] = z[t] < -entry_z and not ext
        exits[t - t0] = ext


def prepare(prices, combos):
    """Return the :class:`~peaktrade.strategies.base.Prepared` rows of ``combos``, each indicator once."""
    tab = IndicatorTable(prices)
    close = prices.close
    cols, fpar = [], []
    for p in combos:
        cols.append([tab.row(("zscore", p["window"]), zscore_nb, close, p["window"])])
        fpar.append([p["entry_z"], p["exit_z"]])
    return tab.build(cols, fpar)


STRATEGY = Strategy(
    name="zscore_reversion",
    summary="Long when the close's z-score falls below -entry_z, exit when it rises above -exit_z.",
    params=(
        Param("window", "int", 20, low=2, high=10_000, help="mean/std window (bars)"),
        Param("entry_z", "float", 2.0, low=0.0, high=10.0, help="enter when z < -entry_z"),
        Param("exit_z", "float", 0.0, low=-10.0, high=10.0, help="exit when z > -exit_z (0: back at the mean)"),
    ),
    prepare=prepare,
    signal_nb=signal_nb,
    constraints=(Constraint("exit_z < entry_z", lambda p: p["exit_z"] < p["entry_z"]),),
)

__all__ = ["STRATEGY"]
