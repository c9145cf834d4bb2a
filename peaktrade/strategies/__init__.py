"""Strategies: the library, the authoring API (pandas and numba levels) and the registry (docs/strategies.md)."""

from peaktrade.strategies.authoring import PandasStrategy
from peaktrade.strategies.base import (
    CLOSE,
    HIGH,
    LOW,
    OPEN,
    SIGNAL_SIG,
    VOLUME,
    Constraint,
    IndicatorTable,
    Param,
    Prepared,
    Prices,
    Strategy,
    prices_from_bars,
    signal_arrays,
)
from peaktrade.strategies.registry import (
    generate_signals,
    get_strategy,
    list_strategies,
    register,
    search_space,
    strategy_source,
)

__all__ = [
    "CLOSE", "HIGH", "LOW", "OPEN", "SIGNAL_SIG", "VOLUME", "Constraint", "IndicatorTable", "PandasStrategy", "Param",
    "Prepared", "Prices", "Strategy", "generate_signals", "get_strategy", "list_strategies",
    "prices_from_bars", "register", "search_space", "signal_arrays", "strategy_source",
]
