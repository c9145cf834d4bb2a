"""Orders: requests, fills, execution results, the executor protocol, and the paper executor."""

from peaktrade.orders.model import (
    OrderError,
    OrderExecutionResult,
    OrderExecutor,
    OrderFill,
    OrderRequest,
    OrderStatus,
)
from peaktrade.orders.paper import PaperExecutor, PaperMarketContext

__all__ = [
    "OrderError",
    "OrderExecutionResult",
    "OrderExecutor",
    "OrderFill",
    "OrderRequest",
    "OrderStatus",
    "PaperExecutor",
    "PaperMarketContext",
]
