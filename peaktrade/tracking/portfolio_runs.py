"""``log_portfolio``: one portfolio backtest as an MLflow run (fail-soft, like :func:`log_backtest`)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peaktrade.errors import PeakTradeError

if TYPE_CHECKING:
    from peaktrade.config import Config


def portfolio_params(result: Any) -> dict[str, Any]:
    """The run's params: the allocation (``alloc``, ``weights`` as text, ...), ``rebalance``, ``mode``, the
    symbols, the gating strategy's parameters by name, backtest options as ``backtest.<name>`` and the span."""
    from peaktrade.experiments.records import plain_value

    params: dict[str, Any] = {k: (str(v) if isinstance(v, dict) else plain_value(v)) for k, v in result.alloc.items()}
    params.update(rebalance=result.rebalance, mode=result.mode, symbols=",".join(result.symbols))
    if result.strategy:
        params["strategy"] = result.strategy
        params.update({str(k): plain_value(v) for k, v in result.params.items()})
    params.update({f"backtest.{k}": plain_value(v) for k, v in result.options.items()})
    eq = result.equity
    params.update({"data.n_bars": len(eq), "data.start": str(eq.index[0]), "data.end": str(eq.index[-1])})
    return params


def save_portfolio(result: Any, directory: Path) -> Path:
    """Write equity, weights, positions, orders and trades as Parquet, and the stats as JSON, to ``directory``."""
    from peaktrade._files import atomic_write_json

    directory.mkdir(parents=True, exist_ok=True)
    result.equity.to_frame().assign(cash=result.cash).to_parquet(directory / "equity.parquet")
    result.weights.to_parquet(directory / "weights.parquet")
    result.positions.to_parquet(directory / "positions.parquet")
    result.orders.to_parquet(directory / "orders.parquet")
    result.trades.to_parquet(directory / "trades.parquet")
    atomic_write_json(directory / "stats.json", {k: float(v) for k, v in result.stats().items()})
    return directory


def log_portfolio(result: Any, *, config: Config | None = None, experiment: str | None = None,
                  run_name: str | None = None, timeframe: str | None = None, exchange: str | None = None,
                  extra_tags: Mapping[str, Any] | None = None, report: bool = True,
                  parent_run_id: str | None = None) -> str | None:
    """Log a :class:`~peaktrade.portfolio.PortfolioResult` as an MLflow run and return its run id (None when
    tracking failed: a warning, never an exception into the computation).

    Params: see :func:`portfolio_params`; metrics: ``result.stats()`` (NaN/inf left out and listed in a
    tag); artifacts: ``result/`` (:func:`save_portfolio`) and ``report/report.html``. ``parent_run_id`` nests
    the run (what ``peaktrade experiment run`` passes to a notebook).
    """
    from peaktrade.tracking._api import _finish, _provenance_table
    from peaktrade.tracking._runs import start_run, warn_failed
    from peaktrade.tracking._store import load

    if not all(hasattr(result, a) for a in ("equity", "weights", "orders", "stats", "alloc")):
        raise PeakTradeError(f"result is a {type(result).__name__}: expected a PortfolioResult")
    run = None
    try:
        cfg = load(config)
        name = run_name or f"portfolio {result.alloc.get('alloc')} {result.rebalance} {','.join(result.symbols)}"[:200]
        run = start_run(cfg, experiment=experiment, run_name=name, kind="portfolio", parent_run_id=parent_run_id,
                        strategy=result.strategy,
                        symbol=",".join(result.symbols), timeframe=timeframe, exchange=exchange, tags=extra_tags)
        run.log_params(portfolio_params(result))
        run.log_metrics(result.stats())
        with tempfile.TemporaryDirectory(prefix="peaktrade-portfolio-") as tmp:
            root = Path(tmp)
            run.log_dir(save_portfolio(result, root / "result"), "result")
            if report:
                from peaktrade.reporting import build_report, report_title

                build_report(title=report_title("portfolio", result.alloc.get("alloc"), timeframe),
                             path=root / "report" / "report.html", portfolio=result, exchange=exchange,
                             provenance=_provenance_table(run, symbols=", ".join(result.symbols), timeframe=timeframe))
                run.log_dir(root / "report", "report")
        run.end("FINISHED")
        return run.run_id
    except Exception as e:  # noqa: BLE001  (tracking must never break the computation)
        warn_failed("log_portfolio", e)
        _finish(run, "FAILED")
        return None


__all__ = ["log_portfolio", "portfolio_params", "save_portfolio"]
