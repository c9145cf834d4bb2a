"""Logging of an optimizer's study: the sweep's parent run and children, with the study's setup and its DSR."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade.errors import PeakTradeError
from peaktrade.tracking._api import log_sweep

if TYPE_CHECKING:
    from peaktrade.config import Config


def log_optimize(
    result: Any,
    *,
    bars: pd.DataFrame | None = None,
    config: Config | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    top_n: int | None = None,
    report: bool = True,
) -> str | None:
    """Log an :class:`~peaktrade.experiments.optimize.OptimizeResult` as a parent run; return its id (None when
    tracking failed).

    Logged as a sweep (:func:`~peaktrade.tracking.log_sweep`) of every trial of the study: the trials table as
    ``sweep/table.parquet`` and ``.csv``, the best ``top_n`` trials as child runs, the report; plus the study's
    params (``optimize.study``, ``.sampler``, ``.objectives``, ``.directions``, ``.seed``, ``.batch``, the searched
    space as ``space.<name>``) and the trial counts (``n_trials``: every evaluated trial of the study, the count
    the logged ``dsr`` is deflated by; ``n_new``, ``n_resumed``, ``n_skipped``) as metrics.
    """
    if not (hasattr(result, "trials") and hasattr(result, "study") and hasattr(result, "overfitting")):
        raise PeakTradeError(f"result is a {type(result).__name__}: expected an OptimizeResult")
    params = {"optimize.study": result.study, "optimize.sampler": result.sampler,
              "optimize.objectives": ",".join(result.objectives), "optimize.directions": ",".join(result.directions),
              "optimize.seed": result.seed, "optimize.batch": result.batch,
              **{f"space.{k}": v for k, v in result.space.items()}}
    counts = {"n_trials": result.n_trials, "n_new": result.n_new, "n_resumed": result.n_resumed,
              "n_skipped": result.n_skipped}
    overfitting = pd.Series({**result.overfitting.to_dict(), **counts}, dtype=object)
    return log_sweep(result.trials, config=config, experiment=experiment,
                     run_name=run_name or f"optimize {result.strategy}", symbol=symbol, timeframe=timeframe,
                     exchange=exchange, top_n=top_n, metric=result.objectives[0], bars=bars, overfitting=overfitting,
                     extra_tags={"peaktrade.study": result.study, "peaktrade.sampler": result.sampler},
                     report=report, extra_params=params)
