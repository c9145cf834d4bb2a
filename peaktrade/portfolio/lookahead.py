"""Lookahead check of an allocation: the target weights of bar t must not change when the prices from
bar t on change.

The weights for bar t may read returns up to bar t − 1's close only. :func:`allocation_lookahead_check`
recomputes the targets on altered histories (every symbol's prices from bar k on replaced by a seeded
random walk, the bars themselves kept) and compares the targets of bars up to k with the full run's,
NaN equal to NaN; the report names the first bar and symbol that differ. Replacing rather than cutting
the bars catches a rule that reads bar t's own close for bar t's weights (a cut at t + 1 keeps it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.errors import BacktestError


@dataclass(frozen=True)
class AllocationLookaheadReport:
    """Verdict of :func:`allocation_lookahead_check`: ``ok``, the histories checked and the first offence."""

    ok: bool
    checked: int
    bar: pd.Timestamp | None = None
    symbol: str | None = None
    full: float | None = None
    truncated: float | None = None

    @property
    def message(self) -> str:
        if self.ok:
            return f"no lookahead: the target weights of {self.checked} altered histories equal the full run's"
        return (f"lookahead: the target weight of {self.symbol} at {self.bar} is {self.full!r} with the whole "
                f"history but {self.truncated!r} when the prices from that bar on change")


def _altered(aligned: Any, k: int, rng: np.random.Generator) -> Any:
    """Return the aligned bars with every price from bar ``k`` on multiplied by a random walk."""
    from dataclasses import replace

    walk = np.exp(np.cumsum(rng.normal(0.0, 0.05, aligned.close[k:].shape), axis=0))
    close, open_ = aligned.close.copy(), aligned.open.copy()
    close[k:] *= walk
    open_[k:] *= walk
    return replace(aligned, open=open_, close=close)


def allocation_lookahead_check(bars: dict[str, pd.DataFrame], *, alloc: Any = "equal", rebalance: str = "1W",
                               checkpoints: Any = None, n_checkpoints: int = 25, seed: int = 0,
                               **alloc_params: Any
                               ) -> AllocationLookaheadReport:
    """Check that the allocation's target weights for each bar use data before that bar only.

    ``checkpoints`` are bars k (default: the first ``n_checkpoints`` rebalance bars, where weights are
    recomputed, and evenly spaced ones); with every price from bar k on altered, the targets of bars
    0..k must equal the full run's.
    """
    from peaktrade.backtest.stats import nominal_bars_per_year
    from peaktrade.portfolio.alloc import Allocation
    from peaktrade.portfolio.engine import align_bars, targets

    allocation = alloc if isinstance(alloc, Allocation) else Allocation(rule=alloc, **alloc_params)
    aligned = align_bars(bars)
    n = len(aligned.index)
    if allocation.lookback is None and allocation.uses_returns:
        from dataclasses import replace

        allocation = replace(allocation, lookback=max(2, int(round(30 * nominal_bars_per_year(aligned.index) / 365))))
    full, trade_bars = targets(aligned, allocation, rebalance)
    if checkpoints is None:
        reb = np.flatnonzero(trade_bars)
        ks = set(reb[:n_checkpoints].tolist()) | set(np.linspace(1, n - 1, n_checkpoints).astype(int).tolist())
        checkpoints = sorted(k for k in ks if 1 <= k < n)
    rng = np.random.default_rng(seed)
    checked = 0
    for k in checkpoints:
        k = int(k)
        if not 1 <= k < n:
            raise BacktestError(f"checkpoint {k} is out of range: expected a bar in [1, {n - 1}]")
        cut, _ = targets(_altered(aligned, k, rng), allocation, rebalance)
        cut, ref = cut[: k + 1], full[: k + 1]
        same = (cut == ref) | (np.isnan(cut) & np.isnan(ref))
        checked += 1
        if not same.all():
            t, j = np.argwhere(~same)[0]
            return AllocationLookaheadReport(ok=False, checked=checked, bar=aligned.index[t],
                                             symbol=aligned.symbols[j], full=float(full[t, j]),
                                             truncated=float(cut[t, j]))
    return AllocationLookaheadReport(ok=True, checked=checked)


__all__ = ["AllocationLookaheadReport", "allocation_lookahead_check"]
