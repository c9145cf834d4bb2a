"""Research experiments: walk-forward optimization, Monte Carlo, stress scenarios, overfitting
statistics (DSR, PBO), the lookahead check, papermill batches (``batch``) and the re-runs tracking
logs (``records``).

The public names are imported explicitly. Three of them share their module's name (``walk_forward``,
``monte_carlo``, ``optimize``): importing them here, before any other import of those modules, binds the package
attribute to the function for good (the import system sets a submodule attribute only when it first
loads the submodule). These modules need only numpy and pandas; numba kernels load on first use.
``import peaktrade`` does not import this package.
"""

from __future__ import annotations

from peaktrade.experiments.lookahead import LookaheadReport, lookahead_check
from peaktrade.experiments.monte_carlo import MonteCarloResult, cost_sensitivity, monte_carlo
from peaktrade.experiments.optimize import OptimizeResult, optimize
from peaktrade.experiments.overfitting import (
    PBOResult,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    pbo,
    pbo_from_part_sums,
    pbo_label,
    pbo_null_mean,
    probabilistic_sharpe_ratio,
    sweep_overfitting,
)
from peaktrade.experiments.stress import stress_scenarios
from peaktrade.experiments.walk_forward import WalkForwardResult, walk_forward

__all__ = [
    "LookaheadReport",
    "MonteCarloResult",
    "OptimizeResult",
    "PBOResult",
    "WalkForwardResult",
    "cost_sensitivity",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "lookahead_check",
    "monte_carlo",
    "optimize",
    "pbo",
    "pbo_from_part_sums",
    "pbo_label",
    "pbo_null_mean",
    "probabilistic_sharpe_ratio",
    "stress_scenarios",
    "sweep_overfitting",
    "walk_forward",
]
