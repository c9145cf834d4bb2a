"""higher_timeframe: a higher-timeframe bar reaches the lower timeframe only once it has closed."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peaktrade.data import higher_timeframe, resample_bars, synthetic_bars
from peaktrade.strategies.base import prices_from_bars

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import leaky_strategies as leaks  # noqa: E402


@pytest.fixture(scope="module")
def hourly():
    return synthetic_bars(600, seed=5, start="2024-03-01")


def test_higher_timeframe_when_4h_on_1h_then_visible_only_from_the_first_1h_bar_after_its_close(hourly):
    h = higher_timeframe(hourly, "4h", source_timeframe="1h")
    four = resample_bars(hourly, "4h")
    assert h.index.equals(hourly.index)
    # the 00:00-04:00 bar: nothing before 04:00, its close (03:00's close) from the 04:00 bar through 07:00
    assert h.loc[:"2024-03-01 03:00", "close"].isna().all()
    first = four.iloc[0]
    row = h.loc[pd.Timestamp("2024-03-01 04:00", tz="UTC")]
    assert row["close"] == first["close"] == hourly["close"].iloc[3]
    assert row["high"] == first["high"] and row["htf_open"] == four.index[0]
    # on every bar the visible 4h bar closed at or before that bar's open, and it is the latest such bar
    seen = h["htf_open"].notna()
    closes = h.loc[seen, "htf_open"] + pd.Timedelta("4h")
    assert (closes <= h.index[seen]).all()
    assert (h.index[seen] - closes < pd.Timedelta("4h")).all()
    assert np.array_equal(h.loc[seen, "close"].to_numpy(), four.loc[h.loc[seen, "htf_open"], "close"].to_numpy())


def test_higher_timeframe_when_naive_resample_reindex_then_it_shows_the_4h_close_before_it_happened(hourly):
    naive = hourly["close"].resample("4h").last().reindex(hourly.index, method="ffill")
    # what the leak looks like: at 00:00 the naive merge already shows 03:00's close
    assert naive.iloc[0] == hourly["close"].iloc[3]
    safe = higher_timeframe(hourly, "4h", source_timeframe="1h")["close"]
    assert np.isnan(safe.iloc[0]) and safe.iloc[4] == hourly["close"].iloc[3]


def test_higher_timeframe_when_truncated_then_a_prefix_of_the_full_result(hourly):
    full = higher_timeframe(hourly, "4h", source_timeframe="1h")
    for k in (1, 3, 4, 5, 8, 9, 101, 599):
        part = higher_timeframe(hourly.iloc[:k], "4h", source_timeframe="1h")
        pd.testing.assert_frame_equal(part, full.iloc[:k])


def test_higher_timeframe_when_bars_have_a_gap_then_the_bar_appears_on_the_first_bar_after_its_close(hourly):
    gappy = hourly.drop(hourly.index[3:7])  # 03:00-06:00 missing: the next bar after 04:00 is 07:00
    h = higher_timeframe(gappy, "4h", source_timeframe="1h")
    assert h.loc[:"2024-03-01 02:00", "close"].isna().all()
    t7 = pd.Timestamp("2024-03-01 07:00", tz="UTC")
    assert h.loc[t7, "close"] == gappy["close"].iloc[2]  # the 00:00 4h bar closes with 02:00's bar
    assert h.loc[t7, "htf_open"] == pd.Timestamp("2024-03-01 04:00", tz="UTC") - pd.Timedelta("4h")


def test_higher_timeframe_when_given_prices_then_same_as_bars(hourly):
    a = higher_timeframe(prices_from_bars(hourly), "1d", source_timeframe="1h")
    b = higher_timeframe(hourly, "1d", source_timeframe="1h")
    pd.testing.assert_frame_equal(a, b, check_names=False)


def test_lookahead_check_when_strategy_uses_higher_timeframe_then_passes_and_naive_resample_is_caught(hourly):
    from peaktrade.experiments import lookahead_check

    safe = lookahead_check(leaks.SAFE_HTF, hourly)
    assert safe.passed, safe.message
    naive = lookahead_check(leaks.NAIVE_HTF, hourly)
    assert not naive.passed and naive.first_output == "close_4h"
