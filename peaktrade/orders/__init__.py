"""Orders: requests, fills, execution results, the executor protocol, the paper and exchange executors."""

from peaktrade.orders.exchange import ExchangeExecutor
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
    "ExchangeExecutor",
    "OrderError",
    "OrderExecutionResult",
    "OrderExecutor",
    "OrderFill",
    "OrderRequest",
    "OrderStatus",
    "PaperExecutor",
    "PaperMarketContext",
]
