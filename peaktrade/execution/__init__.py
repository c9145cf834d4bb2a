"""Execution: the ledger and the pipeline that turns signals into guarded, booked orders."""

from peaktrade.execution.ledger import Ledger, Position, Trade
from peaktrade.execution.pipeline import Decision, ExecutionPipeline, Hooks, OrderCheck, SizingModel, StopRules

__all__ = ["Decision", "ExecutionPipeline", "Hooks", "Ledger", "OrderCheck", "Position", "SizingModel",
           "StopRules", "Trade"]
