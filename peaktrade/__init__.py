"""peaktrade: a notebook-centric research workbench for crypto trading strategies.

Importing the package is cheap: heavy modules (numba kernels, pandas layers) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from peaktrade import (
    _numba_cache,  # noqa: F401  (sets a writable NUMBA_CACHE_DIR before any kernel loads)
    _telemetry,  # noqa: F401  (MLflow telemetry off here and in every child process)
)
from peaktrade.errors import PeakTradeError

__version__ = "0.1.0"

_LAZY = {
    "load_config": "peaktrade.config",
    "load_bars": "peaktrade.data",
    "validate_bars": "peaktrade.data",
    "from_signals": "peaktrade.backtest",
    "run": "peaktrade.backtest",
    "sweep": "peaktrade.backtest",
    "optimize": "peaktrade.experiments.optimize",
    "get_strategy": "peaktrade.strategies",
    "paper_replay": "peaktrade.live",
}

__all__ = ["PeakTradeError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'peaktrade' has no attribute {name!r}")
