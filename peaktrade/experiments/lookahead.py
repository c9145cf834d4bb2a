"""Lookahead check: a signal on bar t must not change when the bars after t are removed.

:func:`lookahead_check` computes a strategy's signals (``prepare`` and ``signal_nb``, the code the
backtests and the live pipeline run) on the full history and again on truncated histories
``bars[:k]`` for a set of checkpoints ``k``, and compares every bar ``t < k``. A strategy that reads
the future (``ind[:, t+1]`` in its kernel, a centred window, a normalization over the whole
series) changes some signal, typically on the last bars of a truncated history. The indicator
rows the combination reads (its ``cols``) are compared the same way (NaN equals NaN), which also
catches leaks that have not flipped a signal yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.errors import BacktestError, bad_value

_COLUMNS = ["time", "signal", "full", "truncated", "k"]
_IND_COLUMNS = ["time", "input", "full", "truncated", "k"]


@dataclass
class LookaheadReport:
    """Outcome of :func:`lookahead_check`.

    Attributes
    ----------
    changes : pandas.DataFrame
        One row per (bar, signal, checkpoint) whose value differs: ``time``, ``signal``
        (``"entries"``/``"exits"``), ``full`` (value on the full history), ``truncated`` (value on
        ``bars[:k]``), ``k``.
    indicator_changes : pandas.DataFrame
        Indicator values that differ, first bar per (input, checkpoint): ``time``, ``input`` (position
        in the combination's ``cols``, i.e. which indicator row it reads), ``full``, ``truncated``, ``k``.
    checkpoints : numpy.ndarray
        The history lengths ``k`` checked.
    strategy : str
    params : dict
        The resolved signal parameters.
    """

    changes: pd.DataFrame
    indicator_changes: pd.DataFrame
    checkpoints: np.ndarray
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no signal and no indicator value changed."""
        return len(self.changes) == 0 and len(self.indicator_changes) == 0

    @property
    def first_leak(self) -> pd.Timestamp | None:
        """Time of the earliest bar whose signal changed, or None."""
        return None if not len(self.changes) else self.changes["time"].min()

    def __repr__(self) -> str:
        verdict = "passed" if self.passed else (f"FAILED: {len(self.changes)} signal change(s), "
                                                 f"{len(self.indicator_changes)} indicator change(s)")
        return f"LookaheadReport({self.strategy}, {len(self.checkpoints)} checkpoints, {verdict})"


def default_checkpoints(n: int, *, n_even: int = 50, tail: int = 200, n_tail: int = 20) -> np.ndarray:
    """Return ~``n_even`` evenly spaced history lengths in [2, n) plus ~``n_tail`` in the last ``tail`` bars."""
    if n < 3:
        return np.empty(0, dtype=np.int64)
    even = np.linspace(2, n - 1, n_even).round()
    last = np.linspace(max(2, n - tail), n - 1, n_tail).round()
    return np.unique(np.concatenate([even, last]).astype(np.int64))


def lookahead_check(strategy: Any, bars: pd.DataFrame, *, checkpoints: Any = None, **params: Any) -> LookaheadReport:
    """Recompute a strategy's signals on truncated histories and report what the future changed.

    Parameters
    ----------
    strategy
        Strategy name or object.
    bars
        Bars DataFrame (open, high, low, close; volume optional).
    checkpoints
        History lengths ``k`` (each in [1, len(bars))) to truncate to; default
        :func:`default_checkpoints` (50 evenly spaced plus 20 in the last 200 bars).
    **params
        Strategy parameters by name (simulator stops are accepted and ignored).

    Returns
    -------
    LookaheadReport
        ``.passed`` is True when nothing changed.
    """
    from peaktrade.backtest.engine import check_bars, split_params
    from peaktrade.strategies.base import prices_from_bars
    from peaktrade.strategies.registry import get_strategy

    strat = get_strategy(strategy)
    check_bars(bars)
    sig, _ = split_params(strat, params)
    resolved = strat.resolve(sig)
    b = bars if "volume" in bars else bars.assign(volume=0.0)
    n = len(b)
    if checkpoints is None:
        ks = default_checkpoints(n)
    else:
        ks = np.unique(np.asarray(list(checkpoints) if not np.isscalar(checkpoints) else [checkpoints]))
        if ks.size == 0 or ks.dtype.kind not in "iu" or ks.min() < 1 or ks.max() >= n:
            raise BacktestError(bad_value("checkpoints", checkpoints, f"integers in [1, {n - 1}]"))
        ks = ks.astype(np.int64)

    full_ind, full_cols, full_e, full_x = _signals(strat, prices_from_bars(b), resolved)
    index = b.index
    rows: list[dict[str, Any]] = []
    ind_rows: list[dict[str, Any]] = []
    for k in ks:
        k = int(k)
        ind, cols, e, x = _signals(strat, prices_from_bars(b.iloc[:k]), resolved)
        for name, full, trunc in (("entries", full_e, e), ("exits", full_x, x)):
            for t in np.flatnonzero(full[:k] != trunc):
                rows.append({"time": index[t], "signal": name, "full": bool(full[t]), "truncated": bool(trunc[t]),
                             "k": k})
        # compare the indicator rows this combination reads, input by input (``cols`` order): row
        # numbers may differ between histories (``prepare`` may merge rows that are equal on a short one)
        a = full_ind[full_cols][:, :k]
        tr = ind[cols]
        diff = ~((a == tr) | (np.isnan(a) & np.isnan(tr)))
        for j in np.flatnonzero(diff.any(axis=1)):
            t = int(np.argmax(diff[j]))
            ind_rows.append({"time": index[t], "input": int(j), "full": float(a[j, t]), "truncated": float(tr[j, t]),
                             "k": k})
    changes = pd.DataFrame(rows, columns=_COLUMNS)
    ind_changes = pd.DataFrame(ind_rows, columns=_IND_COLUMNS)
    return LookaheadReport(changes=changes, indicator_changes=ind_changes, checkpoints=ks, strategy=strat.name,
                           params=resolved)


def _signals(strat: Any, prices: Any, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    prep = strat.prepare(prices, [params])
    n = prices.n
    entries = np.zeros(n, dtype=np.bool_)
    exits = np.zeros(n, dtype=np.bool_)
    state = np.zeros(max(strat.n_state, 1), dtype=np.float64)
    strat.signal_nb(prep.ind, prep.cols[0], prep.fpar[0], state, 0, n, entries, exits)
    return prep.ind, prep.cols[0], entries, exits


__all__ = ["LookaheadReport", "default_checkpoints", "lookahead_check"]
