"""MLflow runs of trading sessions, logged by their callers (the CLI, notebooks).

The trading layer (:mod:`peaktrade.live`) never imports the research layer: a session returns
its result and whoever started it logs it here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peaktrade.config import Config
    from peaktrade.live.testnet import TestnetResult

#: Summary values of a session logged as metrics.
SUMMARY_METRICS = ("final_equity", "total_return", "n_orders", "n_fills", "n_denials", "n_trades", "fees_paid", "bars")


def log_testnet_run(result: TestnetResult, *, config: Config) -> str | None:
    """Log a testnet session to MLflow; return its MLflow run id (None for a dry run or when tracking fails).

    Fail-soft: tracking never fails a run that has already traded.
    """
    if result.run_dir is None or result.plan is None:
        return None
    try:
        from peaktrade.tracking import tracked_run

        plan, summary = result.plan, result.summary
        params: dict[str, Any] = {"profile": result.profile, "testnet_mode": result.mode,
                                  "strategy": plan.strategy.name,
                                  **{f"param.{k}": v for k, v in plan.resolved.items()}}
        with tracked_run(config=config, run_name=f"testnet {result.profile} {result.run_id}", params=params,
                         tags={"peaktrade.environment": "testnet", "peaktrade.run_id": result.run_id,
                               "peaktrade.testnet_mode": result.mode},
                         strategy=plan.strategy.name, symbol=plan.symbol, timeframe=plan.timeframe) as run:
            b = (result.testnet_summary or {}).get("budget") or {}
            run.log_metrics({k: summary.get(k) for k in SUMMARY_METRICS if isinstance(summary.get(k), (int, float))}
                            | {"budget_run_notional": b.get("run_notional", 0.0),
                               "budget_run_trades": b.get("run_trades", 0)})
            run.log_artifact(result.run_dir / "meta.json")
            return run.run_id
    except Exception:  # noqa: BLE001 — tracking never fails a run
        return None
