"""Pipeline assembly: the one way an :class:`~peaktrade.execution.pipeline.ExecutionPipeline` is built.

Paper replay, paper/shadow sessions and testnet sessions all build their pipeline here from the
backtest's typed options (:class:`~peaktrade.backtest.options.BacktestOptions`, stops included),
so sizing, costs and stop rules are those of
:func:`peaktrade.backtest.run` everywhere. Only the executor differs: the paper executor (the
backtest's cost model) by default, or whatever ``executor`` builds on the pipeline's market context
(e.g. :class:`~peaktrade.orders.exchange.ExchangeExecutor`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from peaktrade.backtest.options import BacktestOptions
from peaktrade.execution.ledger import Ledger
from peaktrade.execution.pipeline import ExecutionPipeline, Hooks, OrderCheck, SizingModel, StopRules
from peaktrade.orders.model import OrderExecutor
from peaktrade.orders.paper import PaperExecutor, PaperMarketContext


def build_pipeline(symbol: str, options: BacktestOptions, *,
                   checks: Sequence[OrderCheck] = (), hooks: Hooks | None = None,
                   executor: Callable[[PaperMarketContext], OrderExecutor] | None = None) -> ExecutionPipeline:
    """Return the execution pipeline of one symbol.

    Parameters
    ----------
    symbol
        The market traded.
    options
        The account's options: cash, costs, execution, direction, sizing and the strategy's stops
        (``options.replace(**stops)``).
    checks
        Pre-trade checks, in order (a SafetyGuard, RiskLimits, a budget).
    hooks
        Pipeline callbacks (default: none yet; a recorder adds its own).
    executor
        ``executor(context) -> OrderExecutor``; default the paper executor with the options' costs.
    """
    c, z, s = options.costs, options.sizing, options.stops
    ctx = PaperMarketContext(symbol)
    if executor is None:
        ex: OrderExecutor = PaperExecutor(ctx, fees=c.fees, fixed_fees=c.fixed_fees, slippage=c.slippage)
    else:
        ex = executor(ctx)
    return ExecutionPipeline(
        symbol=symbol, executor=ex, ledger=Ledger(options.init_cash), context=ctx, checks=list(checks),
        execution=options.execution, direction=options.direction,
        sizing=SizingModel(z.size, z.size_type, c.fees, c.fixed_fees, c.slippage),
        stops=StopRules(s.sl_stop, s.tp_stop, s.sl_trail, s.stop_priority),
        hooks=hooks if hooks is not None else Hooks(),
    )
