"""Vectorized backtests: numba kernels (``nb.py``), pandas layer (``engine.py``), fused sweeps."""

from peaktrade.backtest.costs import Costs
from peaktrade.backtest.engine import from_signals, run
from peaktrade.backtest.enums import STAT_KEYS
from peaktrade.backtest.options import BacktestOptions
from peaktrade.backtest.result import BacktestResult
from peaktrade.backtest.stats import ALL_STAT_KEYS, BENCHMARK_KEYS, compute_stats, format_frame, format_stats
from peaktrade.backtest.sweep import SweepEstimate, SweepResult, SweepTooLarge, estimate_sweep, sweep

__all__ = ["ALL_STAT_KEYS", "BENCHMARK_KEYS", "STAT_KEYS", "BacktestOptions", "BacktestResult", "Costs", "SweepEstimate", "SweepResult", "SweepTooLarge", "compute_stats", "estimate_sweep", "format_frame", "format_stats", "from_signals",
           "run", "sweep"]
