"""Strategy library: parameter specs + numba signal kernels, and a registry."""

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
from peaktrade.strategies.registry import generate_signals, get_strategy, list_strategies, register

__all__ = [
    "CLOSE", "HIGH", "LOW", "OPEN", "SIGNAL_SIG", "VOLUME", "Constraint", "IndicatorTable", "Param",
    "Prepared", "Prices", "Strategy", "generate_signals", "get_strategy", "list_strategies",
    "prices_from_bars", "register", "signal_arrays",
]
