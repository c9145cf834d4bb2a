"""The experiments package: a plain module whose public names are the functions, not their modules."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import peaktrade.experiments as experiments


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_package_when_imported_then_it_is_a_plain_module_without_a_swapped_class():
    assert type(experiments) is types.ModuleType


def test_public_names_when_a_submodule_was_imported_first_then_they_are_still_the_functions():
    out = _run("import sys; from peaktrade.experiments.walk_forward import WalkForwardResult; "
               "from peaktrade.experiments.monte_carlo import trade_returns; "
               "from peaktrade.experiments import monte_carlo, walk_forward; "
               "print(callable(walk_forward), type(walk_forward).__name__, type(monte_carlo).__name__)")
    assert out.split() == ["True", "function", "function"]


def test_import_peaktrade_when_done_then_no_heavy_module_and_no_experiments_loaded():
    out = _run("import json, sys, peaktrade; print(json.dumps(sorted(m for m in ('pandas', 'numpy', 'numba', "
               "'mlflow', 'plotly', 'peaktrade.experiments', 'peaktrade.tracking') if m in sys.modules)))")
    assert json.loads(out) == []


def test_all_when_listed_then_every_name_resolves():
    assert all(hasattr(experiments, n) for n in experiments.__all__)
    assert experiments.walk_forward.__module__ == "peaktrade.experiments.walk_forward"


def test_import_experiments_when_done_then_numba_mlflow_and_plotly_are_not_loaded():
    out = _run("import json, sys, peaktrade.experiments; print(json.dumps(sorted(m for m in ('numba', 'mlflow', "
               "'plotly', 'peaktrade.backtest', 'peaktrade.tracking') if m in sys.modules)))")
    assert json.loads(out) == []
