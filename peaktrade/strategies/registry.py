"""Strategy registry: name → :class:`~peaktrade.strategies.base.Strategy`.

Each library strategy lives in its own module exposing ``STRATEGY``; modules load on first lookup.
"""

from __future__ import annotations

import importlib
from typing import Any

from peaktrade.errors import StrategyError
from peaktrade.strategies.base import Strategy, prices_from_bars, signal_arrays

#: Library strategy modules, in display order.
LIBRARY = (
    "ma_crossover",
    "rsi_reversion",
    "donchian_breakout",
    "bollinger_reversion",
    "macd",
    "momentum",
    "trend_following",
    "zscore_reversion",
    "atr_band_breakout",
    "breakout",
    "vol_regime_filter",
    "composite",
)

_REGISTRY: dict[str, Strategy] = {}
_loaded = False


def register(strategy: Strategy) -> Strategy:
    """Add ``strategy`` to the registry (a later registration under the same name replaces it)."""
    _REGISTRY[strategy.name] = strategy
    return strategy


def _load_library() -> None:
    global _loaded
    if _loaded:
        return
    for mod in LIBRARY:
        try:
            m = importlib.import_module(f"peaktrade.strategies.{mod}")
        except ModuleNotFoundError as e:
            if e.name == f"peaktrade.strategies.{mod}":
                continue
            raise
        register(m.STRATEGY)
    _loaded = True


def get_strategy(name: str | Strategy) -> Strategy:
    """Return the strategy called ``name`` (a Strategy passes through)."""
    if isinstance(name, Strategy):
        return name
    if name not in _REGISTRY:
        _load_library()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise StrategyError(
            f"unknown strategy {name!r}: expected one of {', '.join(sorted(_REGISTRY))}"
        ) from None


def list_strategies() -> list[Strategy]:
    """Return every registered strategy, library order first."""
    _load_library()
    order = {n: i for i, n in enumerate(LIBRARY)}
    return sorted(_REGISTRY.values(), key=lambda s: (order.get(s.name, len(order)), s.name))


def generate_signals(strategy: Strategy | str, bars: Any, **params: Any):
    """Return the strategy's (entries, exits) as bool Series on the bars' index.

    Parameters are validated by name; unknown names, bad values and broken constraints raise
    :class:`~peaktrade.errors.StrategyError`.
    """
    import pandas as pd

    strat = get_strategy(strategy)
    resolved = strat.resolve(params)
    e, x = signal_arrays(strat, prices_from_bars(bars), resolved)
    return pd.Series(e, index=bars.index, name="entries"), pd.Series(x, index=bars.index, name="exits")
