"""Execution: the ledger and the pipeline that turns signals into guarded, booked orders."""

from peaktrade.execution.ledger import Ledger, Position, Trade
from peaktrade.execution.pipeline import (
    BarDrivenExecutor,
    Decision,
    EquityObserver,
    ExecutionPipeline,
    FillObserver,
    Hooks,
    OrderCheck,
    QuotingExecutor,
    SizingModel,
    StopRules,
)

__all__ = ["BarDrivenExecutor", "Decision", "EquityObserver", "ExecutionPipeline", "FillObserver", "Hooks",
           "Ledger", "OrderCheck", "Position", "QuotingExecutor", "SizingModel", "StopRules", "Trade"]
