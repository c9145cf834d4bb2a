"""Vectorized backtests: numba kernels (``nb.py``), pandas layer (``engine.py``), fused sweeps."""

from peaktrade.backtest.engine import SIM_DEFAULTS, from_signals, run
from peaktrade.backtest.enums import STAT_KEYS
from peaktrade.backtest.result import BacktestResult
from peaktrade.backtest.stats import compute_stats
from peaktrade.backtest.sweep import SweepResult, sweep

__all__ = ["SIM_DEFAULTS", "STAT_KEYS", "BacktestResult", "SweepResult", "compute_stats", "from_signals",
           "run", "sweep"]
