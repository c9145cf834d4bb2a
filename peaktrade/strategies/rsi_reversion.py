"""RSI mean reversion: long when RSI crosses up through ``lower``, out when it crosses up through ``upper``.

Entry: Wilder's RSI(``window``) crosses up through ``lower`` (strictly below it, then strictly above,
as :func:`~peaktrade.strategies.ma_crossover.cross_step_nb` defines a cross), and, when
``trend > 0``, the close is above its SMA(``trend``) (no entry while that SMA warms up).
Exit: RSI crosses up through ``upper``, or RSI is at or above ``exit_level`` (e.g. 50 for a
midline exit; the default 100 leaves only the upper cross in practice).
An entry on a bar whose exit condition also holds is dropped (exit wins).
"""

from __future__ import annotations

from numba import njit

from peaktrade.indicators.nb import rsi_nb, sma_nb
from peaktrade.strategies.base import CLOSE, SIGNAL_SIG, Constraint, IndicatorTable, Param, Strategy
from peaktrade.strategies.ma_crossover import cross_step_nb


@njit(SIGNAL_SIG, cache=True)
def signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Write the signals of bars ``t0..t1-1`` (rules in the module docstring; contract in ``base``)."""
    rsi = ind[cols[0]]
    trend = ind[cols[1]]
    close = ind[CLOSE]
    lower = fpar[0]
    upper = fpar[1]
    exit_level = fpar[2]
    use_trend = fpar[3] != 0.0
    for t in range(t0, t1):
        up_lower, _ = cross_step_nb(rsi[t], lower, state, 0)
        up_upper, _ = cross_step_nb(rsi[t], upper, state, 4)
        ext = up_upper or rsi[t] >= exit_level
        ent = up_lower and (not use_trend or close[t] > trend[t])
        entries[t - t0] = ent and not ext
        exits[t - t0] = ext


def prepare(prices, combos):
    """Return the :class:`~peaktrade.strategies.base.Prepared` rows of ``combos``, each indicator once."""
    tab = IndicatorTable(prices)
    close = prices.close
    cols, fpar = [], []
    for p in combos:
        r = tab.row(("rsi", p["window"]), rsi_nb, close, p["window"])
        tr = tab.row(("sma", p["trend"]), sma_nb, close, p["trend"]) if p["trend"] > 0 else CLOSE
        cols.append([r, tr])
        fpar.append([p["lower"], p["upper"], p["exit_level"], 1.0 if p["trend"] > 0 else 0.0])
    return tab.build(cols, fpar)


STRATEGY = Strategy(
    name="rsi_reversion",
    summary="Long when RSI crosses up through `lower`, exit on the cross up through `upper` or at `exit_level`.",
    params=(
        Param("window", "int", 14, low=2, high=10_000, help="RSI window (bars, Wilder smoothing)"),
        Param("lower", "float", 30.0, low=0.0, high=100.0, help="enter when RSI crosses up through this level"),
        Param("upper", "float", 70.0, low=0.0, high=100.0, help="exit when RSI crosses up through this level"),
        Param("exit_level", "float", 100.0, low=0.0, high=100.0,
              help="also exit while RSI >= this level (e.g. 50: midline exit; 100: upper cross only)"),
        Param("trend", "int", 0, low=0, high=10_000,
              help="trend filter: enter only when close > SMA(trend); 0 = off"),
    ),
    prepare=prepare,
    signal_nb=signal_nb,
    constraints=(
        Constraint("lower < upper", lambda p: p["lower"] < p["upper"]),
        Constraint("lower < exit_level", lambda p: p["lower"] < p["exit_level"]),
    ),
    n_state=8,
)

__all__ = ["STRATEGY"]
