"""Sweeps of pandas-level strategies: unique parameter sets in parallel threads, each unique indicator
computed once per sweep (memoized ``self.indicator``), bounded memory (chunked prepare), rows equal to run()."""

from __future__ import annotations

import dataclasses
import threading
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars

from peaktrade.backtest import run, sweep
from peaktrade.indicators.api import sma
from peaktrade.strategies import PandasStrategy, Param

CALLS: list[tuple[int, str]] = []


def counted_sma(close, *, window):
    CALLS.append((window, threading.current_thread().name))
    return sma(close, window=window)


class MemoCross(PandasStrategy):
    """SMA trend through the memoized helper: fast/slow combinations share their SMAs."""

    name = "memo_cross"
    params = (Param("fast", "int", 10, low=2, high=500), Param("slow", "int", 50, low=3, high=500))
    constraints = ("fast < slow",)

    def signals(self, bars, *, fast, slow):
        f = self.indicator(counted_sma, bars["close"], window=fast)
        s = self.indicator(counted_sma, bars["close"], window=slow)
        up = f > s
        return up & ~up.shift(1, fill_value=False), ~up & up.shift(1, fill_value=False)


GRID = dict(fast=[5, 10, 20], slow=[20, 40, 80], sl_stop=[0.02, float("nan")], fees=0.001)


@pytest.fixture(scope="module")
def bars():
    return random_bars(2000, seed=5)


def test_sweep_when_combinations_share_indicators_then_each_unique_indicator_is_computed_once(bars):
    CALLS.clear()
    res = sweep(MemoCross, bars, **GRID)
    assert len(res.table) == 16  # 9 pairs minus fast=20/slow=20, times two stops
    assert sorted(w for w, _ in CALLS) == [5, 10, 20, 40, 80]  # SMA(20) once, as fast and as slow
    CALLS.clear()
    sweep(MemoCross, bars, max_memory=1, **GRID)  # one combination per chunk: the memo spans the chunks
    assert sorted(w for w, _ in CALLS) == [5, 10, 20, 40, 80]


def test_sweep_when_memory_budget_is_small_then_prepared_in_chunks_and_rows_equal_run(bars):
    strat = MemoCross().to_strategy()
    sizes = []

    def prepare(prices, combos):
        sizes.append(len({(c["fast"], c["slow"]) for c in combos}))
        return strat.prepare(prices, combos)

    spy = dataclasses.replace(strat, prepare=prepare)
    per_combo = strat.rows_per_combo * len(bars) * 8 * 2
    chunked = sweep(spy, bars, max_memory=3 * per_combo, **GRID)
    assert sizes == [3, 3, 2] and len(chunked.table) == 16  # 8 unique pairs, at most 3 at a time
    whole = sweep(MemoCross, bars, **GRID)
    pd.testing.assert_frame_equal(chunked.table, whole.table)
    np.testing.assert_array_equal(chunked.part_sums, whole.part_sums)
    for _, row in chunked.table.iterrows():
        one = run(MemoCross(), bars, fees=0.001, fast=int(row["fast"]), slow=int(row["slow"]),
                  sl_stop=float(row["sl_stop"])).stats()
        for key in ("total_return", "n_trades", "final_equity", "sharpe", "max_drawdown"):
            assert row[key] == pytest.approx(one[key], rel=1e-12, nan_ok=True), (key, dict(row))


def test_sweep_when_many_combinations_then_peak_memory_is_bounded_by_the_budget():
    b = random_bars(20_000, seed=3)
    grid = dict(fast=list(range(2, 32)), slow=[60, 120])  # 60 unique pairs: 60 × 2 rows × 20k bars = 19 MB
    rows_bytes = 60 * 2 * len(b) * 8
    peaks = {}
    for budget in (2**40, 2 * 2**20):
        sweep(MemoCross, b.iloc[:300], **grid)  # warm numba and caches outside the measurement
        tracemalloc.start()
        res = sweep(MemoCross, b, max_memory=budget, **grid)
        peaks[budget] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(res.table) == 60
    assert peaks[2**40] > rows_bytes  # unbounded: every combination's rows at once (what the old sweep did)
    # chunked: a few combinations' rows, the memoized SMAs (32 × 160 kB) and the bars, whatever the grid size
    assert peaks[2 * 2**20] < min(rows_bytes, peaks[2**40] / 4), peaks


def test_sweep_when_workers_is_2_then_unique_parameter_sets_run_in_two_threads_at_once(bars):
    barrier = threading.Barrier(2, timeout=60)  # sequential calls would break it

    class Together(MemoCross):
        name = "together"
        workers = 2

        def signals(self, bars, **params):
            barrier.wait()
            return super().signals(bars, **params)

    CALLS.clear()
    res = sweep(Together, bars, fast=[5, 10], slow=[40, 80])
    assert len(res.table) == 4 and not barrier.broken
    assert len({t for _, t in CALLS}) == 2  # the SMAs were computed in both worker threads


def test_indicator_when_result_is_changed_by_one_combination_then_others_see_the_memoized_value(bars):
    class Mutating(MemoCross):
        name = "mutating"
        workers = 1

        def signals(self, bars, *, fast, slow):
            s = self.indicator(counted_sma, bars["close"], window=slow)
            s.iloc[:] = 0.0  # a careless author: copy-on-write keeps the memo intact
            return super().signals(bars, fast=fast, slow=slow)

    a = sweep(Mutating, bars, fast=[5, 10], slow=[40, 80])
    b = sweep(MemoCross, bars, fast=[5, 10], slow=[40, 80])
    pd.testing.assert_frame_equal(a.table, b.table)


def test_indicator_when_called_outside_a_sweep_then_plain_call(bars):
    f = MemoCross().indicator(counted_sma, bars["close"], window=7)
    pd.testing.assert_series_equal(f, sma(bars["close"], window=7))
