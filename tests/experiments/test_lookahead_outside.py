"""Lookahead check against leaks written from the public strategy contract only (outside_leaks.py)."""

from __future__ import annotations

import re

import outside_leaks as out
import pytest
from helpers import random_bars

from peaktrade.experiments import lookahead_check


@pytest.fixture(autouse=True)
def _empty_memo():
    out.MEMO.clear()
    yield
    out.MEMO.clear()


@pytest.mark.parametrize("kind", list(out.OUTSIDE_LEAKS))
def test_lookahead_check_when_an_outside_leak_is_written_then_caught_naming_first_bar_and_output(kind):
    strat, params, output = out.OUTSIDE_LEAKS[kind]
    bars = random_bars(300 if params else 800, seed=21)
    rep = lookahead_check(strat, bars, **params)
    assert not rep.passed, kind
    assert re.match(output, rep.first_output), (kind, rep.first_output, rep.message)
    assert rep.first_leak == bars.index[rep.first_bar]
    assert f"bar {rep.first_bar} (" in rep.message and "\n" not in rep.message


@pytest.mark.parametrize("strat", [out.VETO, out.VETO_ROW], ids=["kernel", "prepare"])
def test_lookahead_check_when_the_next_bar_vetoes_a_signal_then_caught_where_it_never_fires(strat):
    # seed 2: no default checkpoint ends on a vetoed breakout, and the full run never fires there (so the
    # signal bars miss it); was passed
    bars = random_bars(1500, seed=2)
    rep = lookahead_check(strat, bars)
    assert not rep.passed and re.match("entries|veto", rep.first_output), rep.message
    ch = rep.changes if strat is out.VETO else rep.indicator_changes
    row = ch.loc[ch["bar"] == rep.first_bar].iloc[0]
    assert row["k"] == rep.first_bar + 1  # seen where the vetoed bar is the last bar of the history
    if strat is out.VETO:
        assert row["value"] and not row["value_more"]  # fires on the cut history, never on the full one


def test_lookahead_check_when_one_value_of_a_large_grid_leaks_then_every_value_is_checked():
    # 115 windows > max_combos=64; seed 2 used to sample a grid without window=77 and pass
    bars = random_bars(300, seed=5)
    rep = lookahead_check(out.ONE_WINDOW, bars, window=list(range(5, 120)), seed=2)
    assert sorted(c["window"] for c in rep.combos) == list(range(5, 120))
    assert not rep.passed and "sma_maybe_centered(77)" in rep.message
    assert set(rep.changes["combo"]) == {77 - 5}  # only that window's signals moved


def test_lookahead_check_when_params_given_as_a_dict_or_strategy_by_object_then_same_as_keywords():
    from peaktrade.strategies import get_strategy

    bars = random_bars(400, seed=1)
    a = lookahead_check("ma_crossover", bars, fast=5, slow=30)
    b = lookahead_check(get_strategy("ma_crossover"), bars, params={"fast": 5, "slow": 30})
    assert a.passed and b.passed and a.combos == b.combos == [{"fast": 5, "slow": 30, "kind": "sma"}]


def test_lookahead_check_when_library_on_3000_real_hourly_bars_and_a_small_grid_then_no_false_positive(shared_data):
    # the per-bar kernel check and the rare-flag bars are new: none may flag an honest strategy
    from peaktrade.data import read_kraken_ohlcvt
    from peaktrade.strategies import list_strategies

    hourly = read_kraken_ohlcvt(shared_data / "XBTUSD_60.csv.gz").iloc[-3000:]
    failed = []
    for s in list_strategies():
        rep = lookahead_check(s.name, hourly)
        first_int = next(p for p in s.params if p.kind == "int")
        grid = {first_int.name: sorted({first_int.default, max(int(first_int.low or 1), first_int.default // 2)})}
        small = lookahead_check(s.name, hourly.iloc[-1500:], **grid)
        assert len(small.combos) == 2
        failed += [r.message for r in (rep, small) if not r.passed]
    assert not failed
