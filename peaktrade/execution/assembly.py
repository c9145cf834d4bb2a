"""Pipeline assembly: the one way an :class:`~peaktrade.execution.pipeline.ExecutionPipeline` is built.

Paper replay, paper/shadow sessions and testnet sessions all build their pipeline here from the
backtest's resolved simulator options and stops, so sizing, costs and stop rules are those of
:func:`peaktrade.backtest.run` everywhere. Only the executor differs: the paper executor (the
backtest's cost model) by default, or whatever ``executor`` builds on the pipeline's market context
(e.g. :class:`~peaktrade.orders.exchange.ExchangeExecutor`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from peaktrade.execution.ledger import Ledger
from peaktrade.execution.pipeline import ExecutionPipeline, Hooks, OrderCheck, SizingModel, StopRules
from peaktrade.orders.model import OrderExecutor
from peaktrade.orders.paper import PaperExecutor, PaperMarketContext


def build_pipeline(symbol: str, options: Mapping[str, Any], stops: Mapping[str, Any], *,
                   checks: Sequence[OrderCheck] = (), hooks: Hooks | None = None,
                   executor: Callable[[PaperMarketContext], OrderExecutor] | None = None) -> ExecutionPipeline:
    """Return the execution pipeline of one symbol.

    Parameters
    ----------
    symbol
        The market traded.
    options
        Every simulator option, resolved (``{**SIM_DEFAULTS, **given}``): ``init_cash``, ``fees``,
        ``fixed_fees``, ``slippage``, ``execution``, ``direction``, ``size``, ``size_type``,
        ``stop_priority``.
    stops
        ``sl_stop``, ``tp_stop``, ``sl_trail`` (absent: no such stop).
    checks
        Pre-trade checks, in order (a SafetyGuard, RiskLimits, a budget).
    hooks
        Pipeline callbacks (default: none yet; a recorder adds its own).
    executor
        ``executor(context) -> OrderExecutor``; default the paper executor with the options' costs.
    """
    o = options
    ctx = PaperMarketContext(symbol)
    if executor is None:
        ex: OrderExecutor = PaperExecutor(ctx, fees=float(o["fees"]), fixed_fees=float(o["fixed_fees"]),
                                          slippage=float(o["slippage"]))
    else:
        ex = executor(ctx)
    return ExecutionPipeline(
        symbol=symbol, executor=ex, ledger=Ledger(float(o["init_cash"])), context=ctx, checks=list(checks),
        execution=o["execution"], direction=o["direction"],
        sizing=SizingModel(float(o["size"]), o["size_type"], float(o["fees"]), float(o["fixed_fees"]),
                           float(o["slippage"])),
        stops=StopRules(stops.get("sl_stop"), stops.get("tp_stop"), stops.get("sl_trail"), o["stop_priority"]),
        hooks=hooks if hooks is not None else Hooks(),
    )
