"""Helpers for strategies built from other strategies (``vol_regime_filter``, ``composite``).

A wrapper strategy exposes each member's parameters under a prefix (``ma_fast`` for
``ma_crossover.fast``), calls each member's ``prepare`` **once** for all of its combinations, merges
the member indicator rows into its own :class:`~peaktrade.strategies.base.IndicatorTable` (bar rows
0–4 map to themselves; other rows are deduplicated by content) and lays out, per combination:

* ``cols``: ``[own cols (cols_base)] + member 0 cols + member 1 cols + ...``
* ``fpar``: ``[own fpar (fpar_base)] + header + member 0 fpar + member 1 fpar + ...``
* ``state``: ``[own state (state_base)] + member 0 state + ...`` (or every member at
  ``state_base`` when ``shared_state``: for wrappers that run one member per combination)

The header holds :data:`HEADER` floats per member: cols start, cols length, fpar start, fpar
length, state start, state length — absolute offsets the wrapper's njit signal reads to slice its
member's views (1-D slices of C-contiguous arrays stay C-contiguous, so they match ``SIGNAL_SIG``).
A member a combination does not use gets zero-filled cols/fpar (row 0 is always valid).

Caveat (numba): a wrapper's cached machine code embeds its members' kernels, and numba's on-disk
cache only checks the wrapper's own source file. After editing a member's signal kernel (or
``ma_crossover.cross_*_nb``, which several kernels call), delete the ``*.nbi``/``*.nbc`` files
of the dependent modules (or touch them) so they recompile; the wrapper tests, which compare
wrappers against freshly computed member signals, catch a stale cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from peaktrade.strategies.base import STOP_PARAMS, Constraint, IndicatorTable, Param, Strategy

#: Header floats per member in ``fpar``.
HEADER = 6
N_BAR_ROWS = 5


@dataclass(frozen=True)
class Member:
    """A strategy used inside a wrapper, with the prefix of its parameters there."""

    strategy: Strategy
    prefix: str

    @property
    def name(self) -> str:
        return self.strategy.name

    def own_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.strategy.params if p.name not in STOP_PARAMS)

    def unprefix(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return this member's parameters from a wrapper's resolved parameters."""
        return {p.name: params[self.prefix + p.name] for p in self.own_params()}


def prefixed_params(members: Sequence[Member]) -> tuple[Param, ...]:
    """Return every member parameter renamed ``prefix + name``, help text naming the member."""
    return tuple(
        Param(m.prefix + p.name, p.kind, p.default, low=p.low, high=p.high, choices=p.choices,
              help=f"{m.name}.{p.name}: {p.help}")
        for m in members for p in m.own_params()
    )


def prefixed_constraints(
    members: Sequence[Member], *, active: Callable[[Member, Mapping[str, Any]], bool] | None = None
) -> tuple[Constraint, ...]:
    """Return each member's constraints over the prefixed names, checked only where ``active`` holds."""
    out = []
    for m in members:
        for c in m.strategy.constraints:
            def check(p, m=m, c=c):
                return (active is not None and not active(m, p)) or c.check(m.unprefix(p))

            out.append(Constraint(f"{m.name} ({m.prefix}*): {c.text}", check))
    return tuple(out)


def state_size(members: Sequence[Member], *, shared_state: bool) -> int:
    """Return the state floats the members need (max when shared, else the sum)."""
    sizes = [m.strategy.n_state for m in members]
    return max(sizes, default=0) if shared_state else sum(sizes)


def _key(row: np.ndarray) -> tuple[str, bytes]:
    return ("member-row", hashlib.blake2b(row.tobytes(), digest_size=20).digest())


def prepare_members(
    tab: IndicatorTable,
    members: Sequence[Member],
    combos: Sequence[Mapping[str, Any]],
    *,
    active: Callable[[Member, Mapping[str, Any]], bool],
    cols_base: int,
    fpar_base: int,
    state_base: int,
    shared_state: bool,
) -> tuple[list[list[int]], list[list[float]]]:
    """Prepare the members and return, per combination, the member ``cols`` and header + member ``fpar``.

    Each member's ``prepare`` runs once, over the distinct member parameter sets of the
    combinations where ``active(member, params)`` holds. The returned lists are appended after
    the wrapper's own ``cols_base`` cols and ``fpar_base`` fpar values.
    """
    n = len(combos)
    per_member = []  # (cols (n, kc), fpar (n, kf)) per member
    for m in members:
        uniq: dict[tuple, int] = {}
        which = np.full(n, -1, dtype=np.int64)
        sets: list[dict[str, Any]] = []
        for j, p in enumerate(combos):
            if not active(m, p):
                continue
            mp = m.unprefix(p)
            key = tuple(sorted(mp.items()))
            if key not in uniq:
                uniq[key] = len(sets)
                sets.append(mp)
            which[j] = uniq[key]
        if not sets:
            per_member.append((np.zeros((n, 0), np.int64), np.zeros((n, 0))))
            continue
        prep = m.strategy.prepare(tab.prices, sets)
        rowmap = np.arange(prep.ind.shape[0], dtype=np.int64)
        for r in range(N_BAR_ROWS, prep.ind.shape[0]):
            row = prep.ind[r]
            name = f"{m.prefix}{prep.names[r]}" if len(prep.names) == prep.ind.shape[0] else None
            rowmap[r] = tab.row(_key(row), lambda row=row: row, name=name)
        mc = rowmap[prep.cols]
        kc, kf = mc.shape[1], prep.fpar.shape[1]
        cols = np.zeros((n, kc), np.int64)
        fpar = np.zeros((n, kf))
        used = which >= 0
        cols[used] = mc[which[used]]
        fpar[used] = prep.fpar[which[used]]
        per_member.append((cols, fpar))

    header = []
    c0 = cols_base
    f0 = fpar_base + HEADER * len(members)
    s0 = state_base
    for m, (mc, mf) in zip(members, per_member):
        ns = m.strategy.n_state
        header += [c0, mc.shape[1], f0, mf.shape[1], s0, ns]
        c0 += mc.shape[1]
        f0 += mf.shape[1]
        if not shared_state:
            s0 += ns
    out_cols = [[int(v) for mc, _ in per_member for v in mc[j]] for j in range(n)]
    out_fpar = [[float(h) for h in header] + [float(v) for _, mf in per_member for v in mf[j]] for j in range(n)]
    return out_cols, out_fpar


__all__ = [
    "HEADER", "Member", "prefixed_constraints", "prefixed_params", "prepare_members", "state_size",
]
