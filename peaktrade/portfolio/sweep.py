"""``sweep_weights``: many fixed-weight portfolios over the same bars, fused and parallel in numba."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peaktrade.backtest.engine import pop_options
from peaktrade.backtest.enums import STAT_KEYS
from peaktrade.backtest.stats import annualization, close_days
from peaktrade.errors import BacktestError, bad_value
from peaktrade.portfolio import nb
from peaktrade.portfolio.engine import CALENDAR, align_bars, calendar_mask


def sweep_weights(bars: dict[str, pd.DataFrame], weights: Any, *, rebalance: str = "1W", config: Any = None,
                  **options: Any) -> pd.DataFrame:
    """Return one row of statistics (``STAT_KEYS``) per weight vector, each a shared-cash portfolio rebalanced
    on the calendar ``rebalance`` (as :func:`~peaktrade.portfolio.run_portfolio` with ``alloc="fixed"``: a
    row equals that run's stats).

    ``weights`` is a (k, m) array or DataFrame whose columns are the symbols (each row: fractions >= 0
    summing to at most 1). Options (``fees``, ``slippage``, ``execution``, ``init_cash``, ...) as in
    ``run_portfolio``; the combinations run in parallel on numba's threads.
    """
    if rebalance not in CALENDAR:
        raise BacktestError(bad_value("rebalance", rebalance, "one of " + ", ".join(CALENDAR)))
    aligned = align_bars(bars)
    cols = aligned.symbols
    if isinstance(weights, pd.DataFrame):
        missing = sorted(set(cols) - set(weights.columns))
        if missing:
            raise BacktestError(f"weights lack column(s) {', '.join(missing)}: expected one per symbol")
        w = weights[cols].to_numpy(dtype=np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != len(cols):
        raise BacktestError(f"weights have shape {w.shape}: expected (combinations, {len(cols)})")
    if not (np.isfinite(w).all() and (w >= 0).all() and (w.sum(axis=1) <= 1.0 + 1e-12).all()):
        raise BacktestError("weights must be fractions >= 0 summing to at most 1 per row")
    opts, _ = pop_options(dict(options), config)
    close_ff = aligned.close_ffill
    if opts.execution == "close":
        price, val = aligned.close, close_ff
    else:
        prev = np.vstack([np.full((1, len(cols)), np.nan), close_ff[:-1]])
        price, val = aligned.open, np.where(aligned.present, aligned.open, prev)
    ann, years, _ = annualization(aligned.index)
    out = np.empty((len(w), len(STAT_KEYS)))
    c = opts.costs
    nb.sweep_weights_nb(np.ascontiguousarray(price), np.ascontiguousarray(val), np.ascontiguousarray(close_ff),
                        np.ascontiguousarray(w), calendar_mask(aligned.index, rebalance),
                        np.zeros(len(cols), dtype=np.int64), np.array([opts.init_cash]), c.fees, c.fixed_fees,
                        c.slippage, np.zeros(len(cols)), 1.0, close_days(aligned.index), ann, years, out)
    table = pd.DataFrame(out, columns=list(STAT_KEYS))
    return pd.concat([pd.DataFrame(w, columns=[f"w_{s}" for s in cols]), table], axis=1)


__all__ = ["sweep_weights"]
