"""The lookahead check on user (pandas-level) strategies: a higher timeframe through the helper passes, a
naive resample is caught, and every failure is one line naming the strategy, the output and the value."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import random_bars

from peaktrade.backtest import run
from peaktrade.experiments import lookahead_check
from peaktrade.indicators.api import sma
from peaktrade.strategies import PandasStrategy, Param

ONE_LINE = re.compile(r"^strategy '(?P<name>\w+)' with (?P<combo>[^:]+) reads the future: (?P<text>[^\n]+)$")


@pytest.fixture(scope="module")
def bars():
    return random_bars(600, seed=17)  # 25 days of hourly bars


class DailyTrend(PandasStrategy):
    """Long while the hourly SMA is above the last CLOSED daily close (a daily trend filter)."""

    name = "daily_trend"
    params = (Param("fast", "int", 10, low=2, high=200),)

    def daily_close(self, bars):
        return self.higher_timeframe(bars, "1d", source_timeframe="1h")["close"]

    def position(self, bars, *, fast):
        return (self.indicator(sma, bars["close"], window=fast) > self.daily_close(bars)).astype(int)


class NaiveDailyTrend(DailyTrend):
    name = "naive_daily_trend"

    def daily_close(self, bars):
        # the daily close is only known at midnight, but ffill shows it on every hour of its own day
        return bars["close"].resample("1D").last().reindex(bars.index, method="ffill")


def naive_daily(close):
    return close.resample("1D").last().reindex(close.index, method="ffill")


class NaiveIndicatorTrend(DailyTrend):
    name = "naive_indicator_trend"

    def daily_close(self, bars):
        return self.indicator(naive_daily, bars["close"])


def test_lookahead_check_when_pandas_strategy_uses_a_higher_timeframe_then_passes(bars):
    res = run(DailyTrend(), bars, fast=10)
    assert len(res.trades) > 3  # the daily filter decides the trades: nothing trivial passes here
    hourly_only = run(NaiveDailyTrend(), bars, fast=10)
    assert res.trades["entry_idx"].tolist() != hourly_only.trades["entry_idx"].tolist()
    rep = lookahead_check(DailyTrend(), bars, fast=[5, 10, 20])
    assert rep.passed, rep.message
    assert rep.message.startswith("strategy 'daily_trend' passed the lookahead check (3 combination(s)")


def test_lookahead_check_when_naive_daily_resample_then_caught_naming_strategy_output_and_bar(bars):
    rep = lookahead_check(NaiveDailyTrend(), bars, fast=10)
    assert not rep.passed
    m = ONE_LINE.match(rep.message)
    assert m and m["name"] == "naive_daily_trend" and m["combo"] == "fast=10", rep.message
    assert re.fullmatch(r"position\(\) output 'position' at bar (\d+) \(2023-01-\d\d \d\d:00:00\+00:00\) is "
                        r"([01]) on the first \d+ bars but ([01]) on the first \d+", m["text"]), rep.message
    assert rep.first_output.startswith("position(fast=10)")
    # the leak is inside a day: the first bar that moved is not a midnight bar
    assert bars.index[rep.first_bar].hour != 0 or rep.first_bar == 0


def test_lookahead_check_when_a_memoized_indicator_leaks_then_the_indicator_is_named(bars):
    rep = lookahead_check(NaiveIndicatorTrend(), bars, fast=10)
    assert not rep.passed
    m = ONE_LINE.match(rep.message)
    assert m and m["text"].startswith("indicator 'naive_daily(close)' at bar "), rep.message


def test_lookahead_check_when_signals_leak_then_output_and_boolean_values_named(bars):
    class NextClose(PandasStrategy):
        name = "next_close"
        params = (Param("k", "int", 1, low=1, high=5),)

        def signals(self, bars, *, k):
            up = bars["close"].shift(-k) > bars["close"]
            return up, ~up

    rep = lookahead_check(NextClose(), bars, k=[1, 2])
    m = ONE_LINE.match(rep.message)
    assert m and m["name"] == "next_close" and m["combo"] in ("k=1", "k=2"), rep.message
    assert re.fullmatch(r"signals\(\) output '(entries|exits)' at bar \d+ \(.+\) is (True|False) on the first "
                        r"\d+ bars but (True|False) on the first \d+", m["text"]), rep.message


def test_lookahead_check_when_user_code_raises_a_multiline_error_then_message_is_one_line(bars):
    class Fussy(PandasStrategy):
        name = "fussy"
        params = (Param("k", "int", 1, low=1, high=5),)

        def signals(self, bars, *, k):
            if len(bars) < 50:
                raise ValueError("too few bars\nneed 50")
            up = bars["close"] > bars["close"].shift(k)
            return up, ~up

    rep = lookahead_check(Fussy(), bars, k=1)
    assert not rep.passed and "\n" not in rep.message
    assert "strategy 'fussy' with k=1 reads the future: prepare or signal_nb raised on the first 1 bars " \
           "(StrategyError: strategy 'fussy' (k=1): signals() raised ValueError: too few bars need 50)" in rep.message


def test_higher_timeframe_when_called_outside_prepare_then_same_as_the_data_function(bars):
    from peaktrade.data import higher_timeframe

    got = DailyTrend().higher_timeframe(bars, "1d", source_timeframe="1h")
    np.testing.assert_array_equal(got["close"].to_numpy(), higher_timeframe(bars, "1d", source_timeframe="1h")
                                  ["close"].to_numpy())
