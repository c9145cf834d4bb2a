"""Research experiments: walk-forward optimization, Monte Carlo, overfitting statistics (DSR, PBO)
and the lookahead check.

Importing this package is cheap: each public name loads its module (and numba, pandas) on first use.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_LAZY = {
    "walk_forward": "peaktrade.experiments.walk_forward",
    "WalkForwardResult": "peaktrade.experiments.walk_forward",
    "monte_carlo": "peaktrade.experiments.monte_carlo",
    "MonteCarloResult": "peaktrade.experiments.monte_carlo",
    "cost_sensitivity": "peaktrade.experiments.monte_carlo",
    "stress_scenarios": "peaktrade.experiments.stress",
    "deflated_sharpe_ratio": "peaktrade.experiments.overfitting",
    "probabilistic_sharpe_ratio": "peaktrade.experiments.overfitting",
    "expected_max_sharpe": "peaktrade.experiments.overfitting",
    "pbo": "peaktrade.experiments.overfitting",
    "pbo_from_part_sums": "peaktrade.experiments.overfitting",
    "pbo_null_mean": "peaktrade.experiments.overfitting",
    "pbo_label": "peaktrade.experiments.overfitting",
    "PBOResult": "peaktrade.experiments.overfitting",
    "sweep_overfitting": "peaktrade.experiments.overfitting",
    "lookahead_check": "peaktrade.experiments.lookahead",
    "LookaheadReport": "peaktrade.experiments.lookahead",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'peaktrade.experiments' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keep ``walk_forward`` and ``monte_carlo`` bound to the functions, not to their modules.

    Importing the submodule ``peaktrade.experiments.walk_forward`` makes the import system set the
    package attribute ``walk_forward`` to the module; this keeps the public function there instead
    (the modules stay reachable as ``sys.modules[...]`` and by ``from ....walk_forward import ...``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType) and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
