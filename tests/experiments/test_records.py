"""experiments.records: a sweep's combination re-run from its parameters, for tracking."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

import peaktrade
from peaktrade.experiments import records


@pytest.fixture(scope="module")
def swept():
    from peaktrade.backtest import sweep
    from peaktrade.data import synthetic_bars

    bars = synthetic_bars(1200, seed=11)
    return bars, sweep("ma_crossover", bars, fees=0.001, fast=[5, 10, 15], slow=[30, 60])


def test_rerun_when_a_row_is_rerun_with_the_sweep_options_then_it_matches_the_table(swept):
    bars, sw = swept
    row_id = sw.table["sharpe"].idxmax()
    again = records.rerun(sw, row_id, bars, options=sw.options, metric="sharpe")
    assert again.matches_table and again.metric == "sharpe"
    assert again.result.stats()["sharpe"] == pytest.approx(sw.table.at[row_id, "sharpe"], rel=1e-6)
    assert {k: again.result.params[k] for k in ("fast", "slow")} == records.combination(sw, row_id)


def test_rerun_when_options_differ_from_the_sweep_then_it_says_the_table_does_not_match(swept):
    bars, sw = swept
    row_id = sw.table["sharpe"].idxmax()
    again = records.rerun(sw, row_id, bars, options={**sw.options, "fees": 0.02}, metric="sharpe")
    assert not again.matches_table


def test_combination_when_columns_differ_in_type_then_each_value_keeps_its_column_type(swept):
    _, sw = swept
    table = sw.table.assign(fast=sw.table["fast"].astype(np.int64))
    combo = records.combination(dataclasses.replace(sw, table=table), table.index[0])
    assert type(combo["fast"]) is int and set(combo) == set(sw.grid)


def test_plain_value_when_numpy_or_nan_then_python_or_none():
    assert records.plain_value(np.int64(3)) == 3 and type(records.plain_value(np.int64(3))) is int
    assert records.plain_value(float("nan")) is None and records.plain_value(np.float64("nan")) is None
    assert records.plain_value("x") == "x" and records.plain_value(float("inf")) == float("inf")


def test_rerun_options_when_none_given_then_the_config_backtest_defaults(cfg):
    from peaktrade.backtest.options import BacktestOptions

    opts = records.rerun_options(cfg, None)
    b = cfg.backtest
    assert {k: opts[k] for k in ("init_cash", "fees", "slippage", "execution")} == {
        "init_cash": b.init_cash, "fees": b.fees, "slippage": b.slippage, "execution": b.execution}
    assert opts == BacktestOptions.from_config(cfg).to_dict(stops=False)  # merged in the one place
    assert records.rerun_options(cfg, {"fees": 0.1}) == {"fees": 0.1}


# -- the research layers, one way: tracking -> reporting -> experiments (analysis, records) ------------------

_PACKAGE = Path(peaktrade.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _importers(package: str, targets: tuple[str, ...], *, skip: tuple[str, ...] = ()) -> list[str]:
    return sorted(str(p.relative_to(_PACKAGE)) for p in (_PACKAGE / package).rglob("*.py")
                  if p.name not in skip
                  and any(m == t or m.startswith(t + ".") for m in _imports(p) for t in targets))


def test_layers_when_reporting_is_imported_then_it_never_reaches_up_to_tracking():
    assert _importers("reporting", ("peaktrade.tracking",)) == []


def test_layers_when_experiments_analysis_and_records_are_imported_then_they_reach_neither_tracking_nor_reporting():
    # batch runs notebooks and logs each to MLflow: it sits above tracking (like the CLI)
    assert _importers("experiments", ("peaktrade.tracking", "peaktrade.reporting"), skip=("batch.py",)) == []
