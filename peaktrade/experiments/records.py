"""Re-runs for tracking: a sweep's combination re-executed from its parameters.

A sweep keeps one row of statistics per combination, not its trades or equity. To log a top
combination with those (and its report), :mod:`peaktrade.tracking` re-runs it here from the row's
parameters with the backtest options the sweep ran with, and records whether the re-run agrees
with the table (a disagreement means the sweep and the single backtest differ, which must show).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from peaktrade.backtest import BacktestResult, SweepResult
    from peaktrade.config import Config

__all__ = ["Rerun", "combination", "plain_value", "rerun", "rerun_options"]

#: Tolerance of the re-run check: the fused sweep and a single backtest sum in different orders.
REL_TOL = 1e-6
ABS_TOL = 1e-9


@dataclass(frozen=True)
class Rerun:
    """One combination re-run: its result and whether its ``metric`` equals the sweep table's."""

    result: BacktestResult
    metric: str
    matches_table: bool


def plain_value(v: Any) -> Any:
    """Return a parameter value as plain Python: numpy scalars unwrapped, NaN as None."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def combination(sweep_result: SweepResult, row_id: Any) -> dict[str, Any]:
    """Return the parameters of the sweep table's row ``row_id`` by name (None where not set).

    Values are read column by column, so each keeps its column's type (an integer window stays an
    integer in a table that also has float columns).
    """
    return {k: plain_value(sweep_result.table.at[row_id, k]) for k in sweep_result.grid}


def rerun_options(config: Config, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the backtest options of a re-run: ``options`` when given, else the config's backtest defaults."""
    if options is not None:
        return dict(options)
    from peaktrade.backtest.options import BacktestOptions

    return BacktestOptions.from_config(config).to_dict(stops=False)


def rerun(sweep_result: SweepResult, row_id: Any, bars: pd.DataFrame, *, options: Mapping[str, Any],
          metric: str) -> Rerun:
    """Re-run the combination of row ``row_id`` on ``bars`` with ``options``.

    Parameters
    ----------
    sweep_result
        The sweep the row belongs to.
    row_id
        Index of the row in ``sweep_result.table``.
    bars
        The bars the sweep ran on.
    options
        Backtest options the sweep ran with (see :func:`rerun_options`).
    metric
        Statistic compared with the table's (relative tolerance :data:`REL_TOL`).
    """
    from peaktrade.backtest import run as run_backtest

    params = {k: v for k, v in combination(sweep_result, row_id).items() if v is not None}
    result = run_backtest(sweep_result.strategy, bars, **dict(options), **params)
    again = float(result.stats().get(metric, math.nan))
    same = math.isclose(again, float(sweep_result.table.at[row_id, metric]), rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return Rerun(result=result, metric=metric, matches_table=same)
