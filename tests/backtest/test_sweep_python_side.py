"""The Python side of a sweep (issue 14, item 1): work done once per sweep, not once per use."""

from __future__ import annotations

import sys

import numpy as np
from helpers import random_bars

import peaktrade.config
from peaktrade.backtest import sweep
from peaktrade.backtest.stats import ALL_STAT_KEYS


def test_sweep_when_config_not_given_then_the_project_config_is_loaded_once(monkeypatch):
    calls = []
    real = peaktrade.config.load_config

    def counting(*a, **k):
        calls.append(a)
        return real(*a, **k)

    monkeypatch.setattr(peaktrade.config, "load_config", counting)
    res = sweep("ma_crossover", random_bars(300, seed=3), fast=[5, 10], slow=[20, 30], progress=False)
    assert len(res.table) == 4
    assert len(calls) == 1  # the options and the memory limit read the same loaded config


# -- the project config: parsed once per content, read on every load ------------------------------------------

def test_sweep_when_config_edited_between_two_sweeps_then_the_second_trades_with_the_edit(monkeypatch, tmp_path):
    path = tmp_path / "config.toml"
    monkeypatch.setenv("PEAK_TRADE_CONFIG_PATH", str(path))
    bars = random_bars(200, seed=4)
    seen = []
    for fees in ("0.0011", "0.0022"):  # the same size: an edit within one mtime tick is still seen (content, not stat)
        path.write_text(f"[backtest]\nfees = {fees}\n", encoding="utf-8")
        res = sweep("ma_crossover", bars, fast=[5], slow=[20], progress=False)
        seen.append((res.options["fees"], float(res.table["total_fees"].iloc[0])))
    assert [f for f, _ in seen] == [0.0011, 0.0022]
    assert seen[0][1] != seen[1][1]


def test_load_config_when_file_unchanged_then_parsed_once_and_each_load_is_its_own(monkeypatch, tmp_path):
    import tomllib

    path = tmp_path / "config.toml"
    path.write_text("[backtest]\nfees = 0.0013\n[live]\nhosts = ['a.example']\n", encoding="utf-8")
    peaktrade.config._parse_toml.cache_clear()
    parses = []
    real = tomllib.loads
    monkeypatch.setattr(tomllib, "loads", lambda text: parses.append(text) or real(text))
    first = peaktrade.config.load_config(path, env={"PEAKTRADE__BACKTEST__SLIPPAGE": "0.01"})
    first.backtest.fees = 0.5  # a caller changing its config changes no other load's
    first.live.hosts.append("b.example")
    again = peaktrade.config.load_config(path, env={})
    assert parses.count(path.read_text(encoding="utf-8")) == 1  # (the override's value is parsed as TOML too)
    assert (again.backtest.fees, again.backtest.slippage, again.live.hosts) == (0.0013, 0.0005, ["a.example"])
    assert first.backtest.slippage == 0.01


def test_load_config_when_file_becomes_invalid_then_the_error_names_it(tmp_path):
    import pytest

    from peaktrade.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text("[backtest]\nfees = 0.0013\n", encoding="utf-8")
    assert peaktrade.config.load_config(path, env={}).backtest.fees == 0.0013
    path.write_text("[backtest\nfees = 0.0013\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        peaktrade.config.load_config(path, env={})


# -- the grid's combinations: each constraint checked once over a chunk's columns where it allows ---------------

def _point_by_point(strat, grids, block):
    """The reference: every grid point as {**defaults, **point}, checked one by one, in blocks of ``block``."""
    import itertools

    out, combos, skipped = [], [], {}
    for point in itertools.product(*(grids[k] for k in grids)):
        p = {**strat.defaults(), **dict(zip(grids, point))}
        broken = strat.broken_constraint(p)
        if broken is None:
            combos.append(p)
        else:
            skipped[broken] = skipped.get(broken, 0) + 1
        if len(combos) == block:
            out.append((combos, skipped))
            combos, skipped = [], {}
    if combos or skipped or not out:
        out.append((combos, skipped))
    return [(c, list(s.items())) for c, s in out]


def _two_params(*constraints, names=("a", "b")):
    """ma_crossover's kernels with two int parameters (0..100: ``names``, its windows) and the given constraints."""
    import dataclasses

    from peaktrade.strategies import get_strategy
    from peaktrade.strategies.base import Param

    ma = get_strategy("ma_crossover")
    return dataclasses.replace(ma, name="two", constraints=tuple(constraints),
                               params=(Param(names[0], "int", 5, low=0, high=100),
                                       Param(names[1], "int", 50, low=0, high=100), ma.params[2]))


def test_iter_combos_when_checks_are_comparisons_then_each_is_called_once_and_blocks_equal_point_by_point(monkeypatch):
    from peaktrade.backtest.sweep import iter_combos
    from peaktrade.strategies.base import Constraint

    calls = []
    strat = _two_params(Constraint("a < b", lambda p: calls.append(1) or p["a"] < p["b"]),
                        Constraint("b - a <= 40", lambda p: p["b"] - p["a"] <= 40),
                        Constraint("a < b", lambda p: p["a"] * 2 != p["b"]))  # a text twice: counted under one key
    grids = {"b": list(range(0, 100, 7)), "a": list(range(0, 60, 3))}
    for block in (1, 7, 50, 10_000):
        want = _point_by_point(strat, grids, block)
        calls.clear()
        got = [(c, list(s.items())) for c, s in iter_combos(strat, grids, block=block)]
        assert got == want
        assert [list(p) for c, _ in got for p in c] == [list(p) for c, _ in want for p in c]  # key order too
        # one call per chunk of about a block of points (at least 2), not one per point (300)
        assert len(calls) == -(-300 // max(block, 2))
    monkeypatch.setattr(sys.modules["peaktrade.backtest.sweep"], "CHECK_CHUNK", 16)  # chunks that split blocks and vice versa
    for block in (1, 7, 50):
        assert [(c, list(s.items())) for c, s in iter_combos(strat, grids, block=block)] == \
            _point_by_point(strat, grids, block)


def test_iter_combos_when_a_check_needs_one_point_then_points_are_checked_one_by_one_as_before():
    from peaktrade.backtest.sweep import iter_combos
    from peaktrade.strategies.base import Constraint

    strat = _two_params(Constraint("a < b and b < 90", lambda p: p["a"] < p["b"] and p["b"] < 90),
                        Constraint("a in (0, 3, 9, 12)", lambda p: p["a"] in (0, 3, 9, 12)))
    grids = {"a": list(range(0, 30, 3)), "b": [5, 10, 95]}
    assert strat.broken_constraints({"a": np.array([1, 2], dtype=object), "b": np.array([3, 4], dtype=object)}) is None
    for block in (2, 1000):
        assert [(c, list(s.items())) for c, s in iter_combos(strat, grids, block=block)] == \
            _point_by_point(strat, grids, block)


def test_sweep_when_a_constraint_raises_on_some_points_then_the_error_names_the_first_as_before(bars):
    import pytest

    from peaktrade.errors import StrategyError
    from peaktrade.strategies.base import Constraint

    strat = _two_params(Constraint("fast >= 3", lambda p: p["fast"] >= 3),
                        Constraint("slow / fast >= 2", lambda p: p["slow"] / p["fast"] >= 2), names=("fast", "slow"))
    # fast=0 breaks the first constraint, so the division is never reached: no error
    assert sweep(strat, bars, fast=[0, 4], slow=[10, 20], progress=False).n_skipped == 2
    strat = _two_params(Constraint("slow / fast >= 2", lambda p: p["slow"] / p["fast"] >= 2), names=("fast", "slow"))
    with pytest.raises(StrategyError) as err:
        sweep(strat, bars, fast=[4, 0], slow=[10, 20], progress=False)
    assert str(err.value) == ("strategy 'two': constraint 'slow / fast >= 2' cannot be evaluated with fast=0, slow=10, "
                              "kind='sma' (ZeroDivisionError)")


# -- the table and the benchmark, built from arrays ------------------------------------------------------------

def test_sweep_table_when_parameter_types_vary_then_columns_are_those_of_a_frame_of_records(bars):
    import pandas as pd

    from peaktrade.backtest.sweep import expand_grid

    grids = dict(fast=[5, 8], slow=[20, 30], kind=["sma", "ema"], sl_stop=[None, 0.05], tp_stop=[0.1, 0.2])
    res = sweep("ma_crossover", bars, progress=False, **grids)
    combos, _ = expand_grid("ma_crossover", grids)
    records = pd.DataFrame([{k: c[k] for k in grids} for c in combos])
    pd.testing.assert_frame_equal(res.table[list(grids)], records, check_exact=True)
    assert list(res.table.columns[len(grids):]) == list(ALL_STAT_KEYS)
    assert (res.table.dtypes[len(grids):] == np.float64).all()


def test_sweep_when_prepare_changes_its_combinations_then_the_table_keeps_the_grid_values(bars):
    import dataclasses

    from peaktrade.strategies import get_strategy

    ma = get_strategy("ma_crossover")

    def prepare(prices, combos):
        prep = ma.prepare(prices, combos)
        for p in combos:
            p["fast"] = -1  # the contract lets prepare keep or change what it is given
        return prep

    res = sweep(dataclasses.replace(ma, prepare=prepare), bars, fast=[5, 8], slow=[20, 30], progress=False)
    assert res.table["fast"].tolist() == [5, 5, 8, 8]
    ref = sweep(ma, bars, fast=[5, 8], slow=[20, 30], progress=False)
    np.testing.assert_array_equal(res.table["sharpe"].to_numpy(), ref.table["sharpe"].to_numpy())


def test_benchmark_values_when_bars_have_gaps_then_equal_to_benchmark_stats_bit_for_bit():
    from peaktrade.backtest.stats import benchmark_stats, benchmark_values, buy_and_hold_equity, time_axis

    bars = random_bars(500, seed=11)
    bars = bars.drop(bars.index[100:140])  # a gap: observed annualization
    series = benchmark_stats(buy_and_hold_equity(bars, 2500.0), init_cash=2500.0, total_return=0.0)
    values = benchmark_values(bars["close"].to_numpy(), bars["open"].iloc[0], init_cash=2500.0,
                              axis=time_axis(bars.index))
    assert values == tuple(series[["benchmark_return", "benchmark_sharpe", "benchmark_max_drawdown"]])
