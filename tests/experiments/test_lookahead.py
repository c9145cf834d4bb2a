"""Lookahead check: leaking strategies are flagged, the library passes."""

from __future__ import annotations

import numpy as np
import pytest
from experiment_helpers import random_walk_bars
from numba import njit

from peaktrade.errors import BacktestError
from peaktrade.experiments import LookaheadReport, lookahead_check
from peaktrade.indicators.nb import sma_nb
from peaktrade.strategies import CLOSE, SIGNAL_SIG, IndicatorTable, Param, Strategy, list_strategies


@njit(SIGNAL_SIG)
def _peek_signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    c = ind[CLOSE]
    n = c.shape[0]
    for t in range(t0, t1):
        nxt = ind[CLOSE, t + 1] if t + 1 < n else c[t]  # reads the next bar: a leak
        entries[t - t0] = nxt > c[t]
        exits[t - t0] = nxt < c[t]


def _bars_only(prices, combos):
    return IndicatorTable(prices).build([[] for _ in combos], [[] for _ in combos])


PEEK = Strategy(name="peek_next_close", summary="buys when the next close is higher (leaks)", params=(),
                prepare=_bars_only, signal_nb=_peek_signal_nb)


@njit(SIGNAL_SIG)
def _above_signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    x = ind[cols[0]]
    for t in range(t0, t1):
        entries[t - t0] = x[t] > 0.5
        exits[t - t0] = x[t] < -0.5


def _demeaned_prepare(prices, combos):
    # normalizes by the mean and std of the WHOLE series: the kernel is causal, the indicator is not
    tab = IndicatorTable(prices)
    cols = []
    for p in combos:
        def z(w=p["window"]):
            m = sma_nb(prices.close, w)
            return (m - np.nanmean(m)) / np.nanstd(m)
        cols.append([tab.row(("z", p["window"]), z)])
    return tab.build(cols, [[] for _ in combos])


GLOBAL_Z = Strategy(name="global_z", summary="z-score against the full-sample mean (leaks)",
                    params=(Param("window", "int", 20, low=2, high=1000),), prepare=_demeaned_prepare,
                    signal_nb=_above_signal_nb)


@pytest.fixture(scope="module")
def bars():
    return random_walk_bars(2000, seed=21)


def test_lookahead_check_when_kernel_reads_the_next_bar_then_flagged_at_each_cut(bars):
    rep = lookahead_check(PEEK, bars)
    assert isinstance(rep, LookaheadReport) and not rep.passed
    ch = rep.changes
    assert list(ch.columns) == ["time", "signal", "full", "truncated", "k"]
    assert set(ch["signal"]) == {"entries", "exits"}
    # every change is on the last bar of a truncated history, where the future was cut off
    assert (bars.index.get_indexer(ch["time"]) == ch["k"] - 1).all()
    assert ch["k"].nunique() > 0.4 * len(rep.checkpoints)
    assert (ch["full"] != ch["truncated"]).all()
    assert rep.first_leak == ch["time"].min()
    assert "FAILED" in repr(rep)


def test_lookahead_check_when_indicator_is_normalized_over_the_whole_series_then_flagged(bars):
    rep = lookahead_check(GLOBAL_Z, bars, checkpoints=range(100, 2000, 50), window=20)
    assert not rep.passed
    assert len(rep.indicator_changes) > 0
    assert set(rep.indicator_changes.columns) == {"time", "input", "full", "truncated", "k"}


@pytest.mark.parametrize("name", [s.name for s in list_strategies()])
def test_lookahead_check_when_library_strategy_with_defaults_then_passes(name, bars):
    rep = lookahead_check(name, bars)
    assert rep.passed, rep.changes.head()
    assert rep.strategy == name and len(rep.checkpoints) >= 50
    assert rep.checkpoints.max() == len(bars) - 1


def test_lookahead_check_when_checkpoints_given_then_uses_them(bars):
    rep = lookahead_check("ma_crossover", bars, checkpoints=[100, 500, 1999], fast=5, slow=20)
    assert list(rep.checkpoints) == [100, 500, 1999] and rep.passed
    assert rep.params["fast"] == 5


@pytest.mark.parametrize("bad", [[0], [2000], [1.5], []])
def test_lookahead_check_when_checkpoints_are_invalid_then_error_names_them(bars, bad):
    with pytest.raises(BacktestError, match="checkpoints="):
        lookahead_check("ma_crossover", bars, checkpoints=bad)
