"""Composite: a weighted vote of library strategies.

Each member's implied position is long from its entry until its exit (an exit on the same bar as
an entry wins) and is kept in ``state``. The score on bar ``t`` is ``Σ w_i · pos_i / Σ w_i`` over
the members with a positive weight. Entry: score ≥ ``threshold``; exit: score < ``exit_threshold``
(both with a 1e-12 tolerance, so equal votes compare as intended). Members with weight 0 are not
computed.

Members (fixed, see :data:`MEMBERS`): ma_crossover (``ma_*``), rsi_reversion (``rsi_*``), macd
(``macd_*``), momentum (``mom_*``); weights ``w_ma``, ``w_rsi``, ``w_macd``, ``w_mom``. Their
signal kernels are called directly from this kernel into small temporary buffers per block.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from peaktrade.strategies import ma_crossover, macd, momentum, rsi_reversion
from peaktrade.strategies._compose import (
    HEADER,
    Member,
    prefixed_constraints,
    prefixed_params,
    prepare_members,
    state_size,
)
from peaktrade.strategies.base import SIGNAL_SIG, Constraint, IndicatorTable, Param, Strategy

#: Members in dispatch order, and the name of each one's weight parameter.
MEMBERS = (
    Member(ma_crossover.STRATEGY, "ma_"),
    Member(rsi_reversion.STRATEGY, "rsi_"),
    Member(macd.STRATEGY, "macd_"),
    Member(momentum.STRATEGY, "mom_"),
)
WEIGHTS = ("w_ma", "w_rsi", "w_macd", "w_mom")
N_MEMBERS = len(MEMBERS)
_WEIGHT_OF = {m.name: w for m, w in zip(MEMBERS, WEIGHTS)}

_ma_signal_nb = ma_crossover.signal_nb
_rsi_signal_nb = rsi_reversion.signal_nb
_macd_signal_nb = macd.signal_nb
_mom_signal_nb = momentum.signal_nb

N_OWN_FPAR = 2 + N_MEMBERS  # [threshold, exit_threshold, w_0 .. w_{M-1}]
N_POS = N_MEMBERS  # state[0:N_POS]: implied position of each member; member states follow
TOL = 1e-12


@njit(SIGNAL_SIG, cache=True)
def signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Write the signals of bars ``t0..t1-1`` (rules in the module docstring; contract in ``base``)."""
    n = t1 - t0
    threshold = fpar[0]
    exit_threshold = fpar[1]
    score = np.zeros(n)
    e = np.empty(n, dtype=np.bool_)
    x = np.empty(n, dtype=np.bool_)
    wsum = 0.0
    for i in range(N_MEMBERS):
        w = fpar[2 + i]
        if not w > 0.0:
            continue
        wsum += w
        h = N_OWN_FPAR + HEADER * i
        c0 = int(fpar[h])
        f0 = int(fpar[h + 2])
        s0 = int(fpar[h + 4])
        mc = cols[c0:c0 + int(fpar[h + 1])]
        mf = fpar[f0:f0 + int(fpar[h + 3])]
        ms = state[s0:s0 + int(fpar[h + 5])]
        if i == 0:
            _ma_signal_nb(ind, mc, mf, ms, t0, t1, e, x)
        elif i == 1:
            _rsi_signal_nb(ind, mc, mf, ms, t0, t1, e, x)
        elif i == 2:
            _macd_signal_nb(ind, mc, mf, ms, t0, t1, e, x)
        else:
            _mom_signal_nb(ind, mc, mf, ms, t0, t1, e, x)
        pos = state[i]
        for k in range(n):
            if x[k]:
                pos = 0.0
            elif e[k]:
                pos = 1.0
            score[k] += w * pos
        state[i] = pos
    for k in range(n):
        s = score[k] / wsum if wsum > 0.0 else 0.0
        ext = s < exit_threshold - TOL
        exits[k] = ext
        entries[k] = s >= threshold - TOL and not ext


def _active(m: Member, p) -> bool:
    return p[_WEIGHT_OF[m.name]] > 0


def prepare(prices, combos):
    """Return the :class:`~peaktrade.strategies.base.Prepared` rows of ``combos``, each indicator once."""
    tab = IndicatorTable(prices)
    mcols, mfpar = prepare_members(tab, MEMBERS, combos, active=_active, cols_base=0,
                                   fpar_base=N_OWN_FPAR, state_base=N_POS, shared_state=False)
    own = [[p["threshold"], p["exit_threshold"], *(p[w] for w in WEIGHTS)] for p in combos]
    return tab.build(mcols, [a + b for a, b in zip(own, mfpar)])


STRATEGY = Strategy(
    name="composite",
    summary="Weighted vote of ma_crossover, rsi_reversion, macd and momentum positions, with entry/exit thresholds.",
    params=(
        Param("threshold", "float", 0.5, low=0.0, high=1.0, help="enter when the weighted long score >= threshold"),
        Param("exit_threshold", "float", 0.5, low=0.0, high=1.0, help="exit when the score < exit_threshold"),
        *(Param(w, "float", 1.0, low=0.0, high=1_000.0, help=f"vote weight of {m.name} (0 = not used)")
          for w, m in zip(WEIGHTS, MEMBERS)),
        *prefixed_params(MEMBERS),
    ),
    prepare=prepare,
    signal_nb=signal_nb,
    constraints=(
        Constraint("0 < exit_threshold <= threshold",
                   lambda p: 0.0 < p["exit_threshold"] <= p["threshold"]),
        Constraint("w_ma + w_rsi + w_macd + w_mom > 0", lambda p: sum(p[w] for w in WEIGHTS) > 0),
        *prefixed_constraints(MEMBERS, active=_active),
    ),
    n_state=N_POS + state_size(MEMBERS, shared_state=False),
)

__all__ = ["MEMBERS", "STRATEGY", "WEIGHTS"]
