"""Numba kernels shared by strategies (pure: numpy arrays and scalars in, nothing else)."""

from __future__ import annotations

from numba import njit

from peaktrade.strategies.base import SIGNAL_SIG


@njit(SIGNAL_SIG, cache=True)
def precomputed_signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Copy precomputed signals of bars ``t0..t1-1``; ``fpar[0]`` says how they are stored.

    The kernel of every pandas-level strategy (:class:`~peaktrade.strategies.PandasStrategy`): its
    outputs are computed in ``prepare`` and stored as indicator rows, so the same simulators run them.
    ``fpar[0] == 0``: ``ind[cols[0]]`` / ``ind[cols[1]]`` are the entries / exits (1.0 = on).
    ``fpar[0]`` 1, 2, 3: ``ind[cols[0]]`` is a target position written for direction long, short,
    both; an entry is the position that direction opens (1, -1, 1), an exit the one its exits move
    to (0, 0, -1): the engine's entry/exit semantics of that direction, exactly.
    """
    mode = fpar[0]
    if mode == 0.0:
        e = ind[cols[0]]
        x = ind[cols[1]]
        for t in range(t0, t1):
            entries[t - t0] = e[t] == 1.0
            exits[t - t0] = x[t] == 1.0
    else:
        p = ind[cols[0]]
        on = -1.0 if mode == 2.0 else 1.0
        off = -1.0 if mode == 3.0 else 0.0
        for t in range(t0, t1):
            entries[t - t0] = p[t] == on
            exits[t - t0] = p[t] == off
