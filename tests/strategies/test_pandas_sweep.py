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
from peaktrade.errors import StrategyError
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
    per_combo = MemoCross().to_strategy().rows_per_combo * len(bars) * 8 * 2
    # two combinations per chunk, and room in the budget for the 5 SMAs (16 kB each): the memo spans the chunks
    sweep(MemoCross, bars, max_memory=2 * per_combo, **GRID)
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


def spread(close, fast, slow):
    return (close.rolling(fast).mean() - close.rolling(slow).mean()).to_numpy()


class PairSpread(PandasStrategy):
    """One memoized indicator per (fast, slow) pair: nothing is shared, so only eviction bounds the memo."""

    name = "pair_spread"
    params = (Param("fast", "int", 10, low=2, high=100), Param("slow", "int", 40, low=10, high=300))
    workers = 1

    def signals(self, bars, *, fast, slow):
        d = np.nan_to_num(self.indicator(spread, bars["close"], fast, slow))
        return d > 0, d < 0


def test_sweep_when_indicator_depends_on_several_parameters_then_memo_is_bounded_by_the_budget():
    b = random_bars(20_000, seed=4)
    grid = dict(fast=list(range(2, 12)), slow=list(range(30, 50)))  # 200 pairs × 160 kB memo entries = 32 MB
    memo_bytes = 200 * len(b) * 8
    budget = 2 * 2**20
    peaks = {}
    for max_memory in (2**40, budget):
        sweep(PairSpread, b.iloc[:300], fast=[2], slow=[30])  # warm numba and caches outside the measurement
        tracemalloc.start()
        res = sweep(PairSpread, b, max_memory=max_memory, **grid)
        peaks[max_memory] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(res.table) == 200
    assert peaks[2**40] > memo_bytes  # every pair's indicator kept
    # the rows and the memo each within the budget, plus one chunk's indicators and the bars (~1 MB)
    assert peaks[budget] < 4 * budget + 2 * 2**20, peaks
    row = res.table.iloc[137]
    one = run(PairSpread, b, fast=int(row["fast"]), slow=int(row["slow"])).stats()
    assert row["total_return"] == pytest.approx(one["total_return"], rel=1e-12)


def bands(close, n):
    m = close.rolling(n).mean()
    return m.to_numpy().copy(), close.rolling(n).std().to_numpy().copy()


def listed(close, n):
    return [close.rolling(n).mean(), {"std": close.rolling(n).std()}]


def test_indicator_when_result_is_a_container_then_its_arrays_are_read_only_and_its_pandas_objects_private(bars):
    class InPlace(PandasStrategy):
        name = "in_place_bands"
        params = (Param("n", "int", 20, low=5, high=100), Param("k", "float", 2.0, low=0.5, high=4.0))
        workers = 1

        def signals(self, bars, *, n, k):
            m, s = self.indicator(bands, bars["close"], n)
            s *= k  # the memo's array: must not change what the next combination reads
            return bars["close"].to_numpy() < m - s, bars["close"].to_numpy() > m

    with pytest.raises(StrategyError, match=r"strategy 'in_place_bands' \(n=20, k=1.0\): signals\(\) raised "
                                            r"ValueError: output array is read-only"):
        sweep(InPlace, bars, n=20, k=[1.0, 2.0])

    class Replacing(PandasStrategy):
        name = "replacing_bands"
        params = (Param("n", "int", 20, low=5, high=100), Param("k", "float", 2.0, low=0.5, high=4.0))
        workers = 1

        def signals(self, bars, *, n, k):
            out = self.indicator(listed, bars["close"], n)
            m, s = out[0], out[1]["std"] * k
            out[0] = m * 0  # the caller's own list, Series and dict: the next combination reads the memo's
            out[1]["std"] += 1.0
            c = bars["close"]
            return (c < m - s).to_numpy(), (c > m).to_numpy()

    sw = sweep(Replacing, bars, n=20, k=[1.0, 2.0, 3.0])
    for k in (1.0, 2.0, 3.0):
        one = run(Replacing, bars, n=20, k=k).stats()["total_return"]
        assert sw.table.loc[sw.table.k == k, "total_return"].item() == pytest.approx(one, rel=1e-12)
    assert sw.table["total_return"].nunique() == 3


def test_indicator_when_same_values_with_other_index_or_labels_then_not_shared(bars):
    from peaktrade.strategies.authoring import _memo_of
    from peaktrade.strategies.base import prices_from_bars

    def zscore(s, n):
        return (s - s.rolling(n).mean()) / s.rolling(n).std()

    def cols(df):
        return list(df.columns)

    memo = _memo_of(prices_from_bars(bars))
    b, used = memo.bars.copy(deep=False), set()
    plain = memo.get(zscore, (b["close"].reset_index(drop=True), 20), {}, used)
    on_bars = memo.get(zscore, (b["close"], 20), {}, used)
    assert isinstance(plain.index, pd.RangeIndex) and on_bars.index.equals(b.index) and memo.computed == 2
    assert memo.get(zscore, (b["close"].rename("c"), 20), {}, used).name == "c"  # the label is part of the key
    d1 = pd.DataFrame({"x": np.arange(5.0), "y": np.ones(5)})
    assert memo.get(cols, (d1,), {}, used) == ["x", "y"]
    assert memo.get(cols, (d1.rename(columns={"x": "p", "y": "q"}),), {}, used) == ["p", "q"]
    assert memo.get(cols, (d1.set_axis([5, 6, 7, 8, 9]),), {}, used) == ["x", "y"] and memo.computed == 6
    memo.get(zscore, (b["close"].copy(), 5), {}, used)  # a copy of a column: by content, on the bars' index
    before = memo.computed
    memo.get(zscore, (b["close"].copy(), 5), {}, used)
    assert memo.computed == before  # equal content, index and label: shared
