"""The declared search space (``search_space``) and ``sweep(..., space="declared")``: a strategy's own
grids (``Param.grid()``), the documented default points of a range without a step, fixed parameters,
constraints, and a clear error for a space too large to sweep."""

from __future__ import annotations

import itertools

import pytest
from helpers import random_bars

import peaktrade.strategies as pts
from peaktrade.backtest import sweep
from peaktrade.errors import BacktestError, StrategyError
from peaktrade.experiments.walk_forward import walk_forward
from peaktrade.strategies import get_strategy, search_space
from peaktrade.strategies.registry import MAX_SPACE_COMBOS, declared_values


class Stepped(pts.PandasStrategy):
    name = "stepped_cross"
    params = (
        pts.Param("fast", "int", 4, low=2, high=8, step=2),
        pts.Param("slow", "int", 12, low=6, high=18, step=6),
        pts.Param("kind", "choice", "sma", choices=("sma", "ema")),
    )
    constraints = ("fast < slow",)
    warmup = 20

    def signals(self, bars, *, fast, slow, kind):
        c = bars["close"]
        f = c.rolling(fast).mean() if kind == "sma" else c.ewm(span=fast).mean()
        s = c.rolling(slow).mean() if kind == "sma" else c.ewm(span=slow).mean()
        up = f > s
        return up & ~up.shift(1, fill_value=False), ~up & up.shift(1, fill_value=False)


def test_search_space_when_params_declare_steps_then_their_grids_and_fixed_ones_kept():
    assert search_space(Stepped) == {"fast": [2, 4, 6, 8], "slow": [6, 12, 18], "kind": ["sma", "ema"]}
    assert search_space(Stepped, {"kind": "ema", "fast": [2, 3]}) == {"fast": [2, 3], "slow": [6, 12, 18],
                                                                      "kind": "ema"}


def test_declared_values_when_range_has_no_step_then_half_to_twice_the_default_inside_the_range():
    # the library's ranges are validity bounds (1..10,000): five points around the default instead
    sp = search_space("ma_crossover")
    assert sp == {"fast": [10, 15, 20, 30, 40], "slow": [50, 75, 100, 150, 200], "kind": ["sma", "ema"]}
    assert declared_values(pts.Param("q", "float", 0.8, low=0.0, high=1.0)) == [0.4, 0.6, 0.8, 1.0]
    assert declared_values(pts.Param("z", "float", 0.0, low=-1.0, high=1.0)) == [0.0]
    assert declared_values(pts.Param("b", "bool", False)) == [False, True]


def test_search_space_when_too_many_combinations_then_error_names_size_and_remedy():
    with pytest.raises(StrategyError, match=r"declared search space of 'composite' has [\d,]+ combinations .*"
                                            rf"expected at most {MAX_SPACE_COMBOS:,}; fix some parameters"):
        search_space("composite")


def test_sweep_when_space_declared_then_rows_are_the_declared_combinations_respecting_constraints():
    bars = random_bars(600, seed=5)
    sw = sweep(Stepped, bars, space="declared")
    expected = [(f, s, k) for f, s, k in itertools.product([2, 4, 6, 8], [6, 12, 18], ["sma", "ema"]) if f < s]
    assert sorted(zip(sw.table["fast"], sw.table["slow"], sw.table["kind"])) == sorted(expected)
    assert sw.n_skipped == 24 - len(expected) and sw.param_names == ["fast", "slow", "kind"]
    fixed = sweep(Stepped, bars, space="declared", kind="ema", fast=2)
    assert len(fixed.table) == 3 and set(fixed.table["kind"]) == {"ema"} and set(fixed.table["fast"]) == {2}
    # without space= only the given grids are swept (the others at their defaults), as before
    assert len(sweep(Stepped, bars, fast=[2, 4]).table) == 2


def test_sweep_when_space_unknown_then_error_names_the_expected_values():
    with pytest.raises(BacktestError, match=r"space='all' is invalid: expected 'declared'"):
        sweep(Stepped, random_bars(100, seed=1), space="all")


def test_walk_forward_when_space_declared_then_each_fold_chooses_from_the_declared_space():
    wf = walk_forward(Stepped, random_bars(1200, seed=7), train=400, test=200, space="declared")
    assert len(wf.folds) == 4 and all(len(s.table) == 20 for s in wf.sweeps)
    assert set(wf.folds["fast"]) <= {2, 4, 6, 8} and set(wf.folds["kind"]) <= {"sma", "ema"}
    assert get_strategy(Stepped).warmup == 20
