"""Research kernels: pure numba over numpy arrays (no pandas, no I/O, no config).

The random draws are made by the caller (a seeded ``numpy.random.Generator``) and passed in as
index arrays, so a kernel is a deterministic function of its inputs whatever the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Columns of the ``out_stats`` array written by :func:`resample_paths_nb`.
MC_FINAL_RETURN, MC_MAX_DRAWDOWN, MC_SHARPE = 0, 1, 2
MC_N_STATS = 3


@njit(cache=True, parallel=True)
def resample_paths_nb(r, starts, block, n_steps, grid, ann_factor, out_stats, out_grid):
    """Compound resampled returns into equity paths and summarize each path.

    Path ``s`` takes, at step ``t`` (0-based), the return ``r[starts[s, t // block] + t % block]``:
    with ``block == 1`` ``starts`` holds one index per step (i.i.d. bootstrap or a permutation),
    with ``block > 1`` one start per block of ``block`` consecutive returns (moving-block bootstrap).

    Parameters
    ----------
    r : float64 (n,)
        Returns to draw from (simple returns, >= -1). A return of -1 ruins the path: its equity
        stays at 0 from there and its Sharpe ratio uses the steps up to the ruin only.
    starts : int64 (n_sims, m)
        Draws, as described above (``m * block >= n_steps``).
    block : int
        Block length (1 for index-per-step draws).
    n_steps : int
        Steps per path.
    grid : int64 (g,)
        Increasing step numbers in ``0..n_steps`` at which the equity is written to ``out_grid``
        (step 0 is the start, equity 1).
    ann_factor : float
        Steps per year for the Sharpe ratio (NaN: no Sharpe ratio).
    out_stats : float64 (n_sims, MC_N_STATS)
        Written: final return, max drawdown (positive fraction; the start is the first peak),
        annualized Sharpe ratio (mean / std with ddof=1 × sqrt(ann_factor)).
    out_grid : float64 (n_sims, g)
        Written: the equity at the ``grid`` steps, as a multiple of the start.
    """
    n_sims = starts.shape[0]
    n_grid = grid.shape[0]
    for s in prange(n_sims):
        eq = 1.0
        peak = 1.0
        mdd = 0.0
        s1 = 0.0
        s2 = 0.0
        g = 0
        m = n_steps  # steps that count for the Sharpe ratio: all, or up to the ruin
        while g < n_grid and grid[g] == 0:
            out_grid[s, g] = 1.0
            g += 1
        for t in range(n_steps):
            if eq <= 0.0:
                x = 0.0  # ruined: equity stays at zero, no more returns
            else:
                x = r[starts[s, t // block] + t % block]
                s1 += x
                s2 += x * x
                if x <= -1.0:
                    x = -1.0
                    m = t + 1
            eq *= 1.0 + x
            if eq >= peak:
                peak = eq
            else:
                dd = 1.0 - eq / peak
                if dd > mdd:
                    mdd = dd
            while g < n_grid and grid[g] == t + 1:
                out_grid[s, g] = eq
                g += 1
        out_stats[s, MC_FINAL_RETURN] = eq - 1.0
        out_stats[s, MC_MAX_DRAWDOWN] = mdd
        sharpe = np.nan
        if m > 1 and not np.isnan(ann_factor):
            mean = s1 / m
            var = (s2 - m * mean * mean) / (m - 1.0)
            if var > 0.0:
                sharpe = mean / np.sqrt(var) * np.sqrt(ann_factor)
        out_stats[s, MC_SHARPE] = sharpe


__all__ = ["MC_FINAL_RETURN", "MC_MAX_DRAWDOWN", "MC_N_STATS", "MC_SHARPE", "resample_paths_nb"]


def _kernel_each_bar_sig():
    from numba import types

    from peaktrade.strategies.base import SIGNAL_FN_TYPE

    return types.void(SIGNAL_FN_TYPE, types.float64[:, ::1], types.int64[:, ::1], types.float64[:, ::1],
                      types.int64, types.boolean[:, ::1], types.boolean[:, ::1], types.int64[:, ::1])


@njit(_kernel_each_bar_sig(), cache=True)
def kernel_each_bar_nb(signal_fn, ind, cols, fpar, n_state, full_e, full_x, first):
    """Call ``signal_fn`` for each bar t alone on ``ind[:, :t+1]`` with the state it carried into t, and
    write into ``first[j, 0]`` / ``first[j, 1]`` the first bar where combination j's entry / exit differs
    from the full run's ``full_e`` / ``full_x`` (-1: none). The state is advanced bar by bar on the full
    ``ind``, as a simulator calling the kernel block by block would."""
    rows, n = ind.shape
    m = cols.shape[0]
    buf = np.empty(rows * n)
    e1 = np.zeros(1, dtype=np.bool_)
    x1 = np.zeros(1, dtype=np.bool_)
    states = np.zeros((m, max(n_state, 1)))
    first[:, :] = -1
    for t in range(n - 1):  # the last bar already is the last bar of the full run
        cut = buf[: rows * (t + 1)].reshape((rows, t + 1))
        for r in range(rows):
            cut[r, :] = ind[r, : t + 1]
        for j in range(m):
            st = states[j].copy()
            signal_fn(cut, cols[j], fpar[j], st, t, t + 1, e1, x1)
            if first[j, 0] < 0 and e1[0] != full_e[j, t]:
                first[j, 0] = t
            if first[j, 1] < 0 and x1[0] != full_x[j, t]:
                first[j, 1] = t
            signal_fn(ind, cols[j], fpar[j], states[j], t, t + 1, e1, x1)
