"""Volatility regime filter: run an inner library strategy, pass its entries only in calm regimes.

The regime is calm on bar ``t`` when the realized volatility (population std of log returns over
``vol_window`` bars) is at or below a threshold: its own rolling ``quantile`` over the last
``regime_window`` bars (bar ``t`` included), or the fixed per-bar level ``max_vol`` when that is
> 0. Entries of the inner strategy pass only in a calm regime (none while the threshold warms
up); exits always pass. ``quantile = 1`` disables the filter.

The inner strategy (``inner``) is one of :data:`INNER`; its parameters are exposed with a prefix
(``ma_fast``, ``dc_entry_window``, ``mom_window``, ...). Its signal kernel is called directly from
this kernel, writing into the output buffers, which are then gated.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from peaktrade.indicators.nb import realized_vol_nb, rolling_quantile_nb
from peaktrade.strategies import donchian_breakout, ma_crossover, momentum
from peaktrade.strategies._compose import (
    Member,
    prefixed_constraints,
    prefixed_params,
    prepare_members,
    state_size,
)
from peaktrade.strategies.base import SIGNAL_SIG, IndicatorTable, Param, Strategy

#: Inner strategies, in dispatch order (the kernel switches on the index).
INNER = (
    Member(ma_crossover.STRATEGY, "ma_"),
    Member(donchian_breakout.STRATEGY, "dc_"),
    Member(momentum.STRATEGY, "mom_"),
)
INNER_NAMES = tuple(m.name for m in INNER)

_ma_signal_nb = ma_crossover.signal_nb
_dc_signal_nb = donchian_breakout.signal_nb
_mom_signal_nb = momentum.signal_nb

N_OWN_FPAR = 1  # [inner index]
N_OWN_COLS = 2  # [realized vol, threshold]


@njit(SIGNAL_SIG, cache=True)
def signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Write the signals of bars ``t0..t1-1`` (rules in the module docstring; contract in ``base``)."""
    code = int(fpar[0])
    h = N_OWN_FPAR + 6 * code
    c0 = int(fpar[h])
    c1 = c0 + int(fpar[h + 1])
    f0 = int(fpar[h + 2])
    f1 = f0 + int(fpar[h + 3])
    s0 = int(fpar[h + 4])
    s1 = s0 + int(fpar[h + 5])
    mc = cols[c0:c1]
    mf = fpar[f0:f1]
    ms = state[s0:s1]
    if code == 0:
        _ma_signal_nb(ind, mc, mf, ms, t0, t1, entries, exits)
    elif code == 1:
        _dc_signal_nb(ind, mc, mf, ms, t0, t1, entries, exits)
    else:
        _mom_signal_nb(ind, mc, mf, ms, t0, t1, entries, exits)
    vol = ind[cols[0]]
    thr = ind[cols[1]]
    for t in range(t0, t1):
        if entries[t - t0] and not vol[t] <= thr[t]:
            entries[t - t0] = False


def _active(m: Member, p) -> bool:
    return p["inner"] == m.name


def prepare(prices, combos):
    """Return the :class:`~peaktrade.strategies.base.Prepared` rows of ``combos``, each indicator once."""
    tab = IndicatorTable(prices)
    close = prices.close
    vols: dict[int, np.ndarray] = {}

    def vol(w):
        if w not in vols:
            vols[w] = realized_vol_nb(close, w)
        return vols[w]

    own_cols, own_fpar = [], []
    for p in combos:
        w = p["vol_window"]
        rv = tab.row(("realized_vol", w), lambda w=w: vol(w))
        if p["max_vol"] > 0:
            thr = tab.row(("const", p["max_vol"]), lambda v=p["max_vol"]: np.full(prices.n, v))
        else:
            key = ("realized_vol_quantile", w, p["regime_window"], p["quantile"])
            thr = tab.row(key, lambda w=w, r=p["regime_window"], q=p["quantile"]: rolling_quantile_nb(vol(w), r, q))
        own_cols.append([rv, thr])
        own_fpar.append([float(INNER_NAMES.index(p["inner"]))])
    mcols, mfpar = prepare_members(tab, INNER, combos, active=_active, cols_base=N_OWN_COLS,
                                   fpar_base=N_OWN_FPAR, state_base=0, shared_state=True)
    return tab.build([a + b for a, b in zip(own_cols, mcols)], [a + b for a, b in zip(own_fpar, mfpar)])


STRATEGY = Strategy(
    name="vol_regime_filter",
    summary="Run an inner strategy; pass its entries only while realized vol is at or below its rolling quantile.",
    params=(
        Param("inner", "choice", "ma_crossover", choices=INNER_NAMES, help="strategy whose entries are gated"),
        Param("vol_window", "int", 20, low=2, high=10_000, help="realized-volatility window (bars of log returns)"),
        Param("regime_window", "int", 250, low=2, high=100_000,
              help="lookback (bars) of the rolling quantile threshold"),
        Param("quantile", "float", 0.5, low=0.0, high=1.0,
              help="calm when realized vol <= its rolling quantile (1 = no filter)"),
        Param("max_vol", "float", 0.0, low=0.0, high=10.0,
              help="fixed per-bar realized-vol ceiling used instead of the quantile when > 0"),
        *prefixed_params(INNER),
    ),
    prepare=prepare,
    signal_nb=signal_nb,
    constraints=prefixed_constraints(INNER, active=_active),
    n_state=state_size(INNER, shared_state=True),
)

__all__ = ["INNER", "STRATEGY"]
