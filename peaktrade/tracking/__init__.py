"""MLflow tracking: params, metrics, artifacts and provenance tags of research runs.

The store is MLflow's own: by default the SQLite database ``mlruns.db`` in the project root
(``[tracking] uri``; ``MLFLOW_TRACKING_URI`` in the environment takes precedence), with
artifacts of experiments peaktrade creates under ``[tracking] artifacts``::

    from peaktrade.tracking import log_backtest, log_sweep, tracked_run
    run_id = log_backtest(res, symbol="BTC/USD", timeframe="1h")
    parent_id = log_sweep(sw, bars=bars, symbol="BTC/USD", timeframe="1h")
    with tracked_run(run_name="notebook 03", params={"window": 20}) as run:
        run.log_metrics({"hit_rate": 0.53})

Tracking is fail-soft: when the store cannot be reached or written, a warning is logged on the
``peaktrade.tracking`` logger and the functions return None; results are never lost. Only the
sanitized config is logged, and every configured secret is masked in params, tags and text
artifacts. Importing this package does not import MLflow.
"""

from __future__ import annotations

from peaktrade.tracking._api import (
    TrackedRun,
    artifact_files,
    log_backtest,
    log_sweep,
    log_walk_forward,
    tracked_run,
)
from peaktrade.tracking._optimize import log_optimize
from peaktrade.tracking._query import experiment_url, recent_runs, report_for_run, run_url, ui_command
from peaktrade.tracking._server import server_command
from peaktrade.tracking._store import artifact_root, open_store, tracking_uri
from peaktrade.tracking.portfolio_runs import log_portfolio

__all__ = [
    "TrackedRun",
    "artifact_files",
    "artifact_root",
    "experiment_url",
    "log_backtest",
    "log_optimize",
    "log_portfolio",
    "log_sweep",
    "log_walk_forward",
    "open_store",
    "recent_runs",
    "report_for_run",
    "run_url",
    "server_command",
    "tracked_run",
    "tracking_uri",
    "ui_command",
]
