"""Numba kernels shared by strategies (pure: numpy arrays and scalars in, nothing else)."""

from __future__ import annotations

from numba import njit

from peaktrade.strategies.base import SIGNAL_SIG


@njit(SIGNAL_SIG, cache=True)
def precomputed_signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Copy precomputed signals: ``ind[cols[0], t]`` / ``ind[cols[1], t]`` (1.0 = on) for bars ``t0..t1-1``.

    The kernel of every pandas-level strategy (:class:`~peaktrade.strategies.PandasStrategy`): its
    signals are computed in ``prepare`` and stored as indicator rows, so the same simulators run them.
    """
    e = ind[cols[0]]
    x = ind[cols[1]]
    for t in range(t0, t1):
        entries[t - t0] = e[t] == 1.0
        exits[t - t0] = x[t] == 1.0
