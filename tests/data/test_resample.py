"""Resampling against a straightforward pandas groupby reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peaktrade.data import resample_bars, synthetic_bars, validate_bars
from peaktrade.errors import DataError


def reference(bars: pd.DataFrame, timeframe: str, source: str) -> pd.DataFrame:
    """Resample by plain pandas groupby on period labels; drop the last period if not fully covered."""
    idx = bars.index
    if timeframe.endswith("w"):
        label = idx.normalize() - pd.to_timedelta(idx.day_of_week, unit="D")  # Monday 00:00 UTC
        period = pd.Timedelta(weeks=int(timeframe[:-1]))
    else:
        period = pd.Timedelta(timeframe.replace("d", "D"))
        label = idx.floor(period)
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    if "trades" in bars.columns:
        agg["trades"] = "sum"
    out = bars.groupby(label).agg(agg)
    if idx[-1] + pd.Timedelta(source.replace("d", "D")) < out.index[-1] + period:
        out = out.iloc[:-1]
    out.index.name = "time"
    return out


def with_holes(n: int = 3000, seed: int = 3) -> pd.DataFrame:
    bars = synthetic_bars(n, seed=seed, start="2021-03-03 05:00")
    keep = np.random.default_rng(seed).random(n) > 0.15
    keep[400:470] = False  # a hole longer than a day
    return bars[keep]


@pytest.mark.parametrize("timeframe", ["2h", "4h", "12h", "1d", "1w"])
def test_resample_when_hourly_with_holes_then_matches_pandas_groupby(timeframe):
    bars = with_holes()
    got = resample_bars(bars, timeframe, source_timeframe="1h")
    want = reference(bars, timeframe, "1h")
    pd.testing.assert_frame_equal(got, want.astype(np.float64), check_freq=False, check_index_type=False)
    validate_bars(got)


def test_resample_when_last_period_incomplete_then_drops_it(hourly_bars):
    bars = hourly_bars("2024-01-01", 6)  # 00:00..05:00: the 04:00-08:00 bar has only 2 of 4 hours
    out = resample_bars(bars, "4h", source_timeframe="1h")
    assert out.index.tolist() == [pd.Timestamp("2024-01-01", tz="UTC")]
    full = resample_bars(hourly_bars("2024-01-01", 8), "4h", source_timeframe="1h")
    assert len(full) == 2


def test_resample_when_last_period_covered_but_holey_then_keeps_it(bars_of):
    times = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 03:00"], utc=True)
    out = resample_bars(bars_of(times), "4h", source_timeframe="1h")
    assert len(out) == 1 and out["volume"].iloc[0] == pytest.approx(bars_of(times)["volume"].sum())


def test_resample_when_period_is_entirely_missing_then_does_not_emit_it(bars_of):
    times = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 08:00", "2024-01-01 11:00"], utc=True)
    out = resample_bars(bars_of(times), "4h", source_timeframe="1h")
    assert out.index.strftime("%H:%M").tolist() == ["00:00", "08:00"]


def test_resample_when_daily_then_labels_are_utc_midnight_and_weekly_are_mondays():
    bars = synthetic_bars(24 * 30, start="2024-01-03 07:00")
    daily = resample_bars(bars, "1d")
    assert (daily.index == daily.index.normalize()).all()
    weekly = resample_bars(bars, "1w")
    assert (weekly.index.day_of_week == 0).all() and (weekly.index.hour == 0).all()


def test_resample_when_source_timeframe_omitted_then_infers_it_from_spacing():
    bars = with_holes(500)
    pd.testing.assert_frame_equal(resample_bars(bars, "4h"), resample_bars(bars, "4h", source_timeframe="1h"))


def test_resample_when_same_timeframe_then_returns_equal_copy(hourly_bars):
    bars = hourly_bars("2024-01-01", 5)
    out = resample_bars(bars, "1h")
    assert out is not bars
    pd.testing.assert_frame_equal(out, bars)


@pytest.mark.parametrize("target", ["90m", "30m", "45m"])
def test_resample_when_target_not_a_multiple_then_raises(hourly_bars, target):
    with pytest.raises(DataError, match="must be a whole multiple of the source timeframe"):
        resample_bars(hourly_bars("2024-01-01", 10), target, source_timeframe="1h")


def test_resample_when_source_bars_off_the_anchored_grid_then_raises(hourly_bars):
    bars = hourly_bars("2024-01-01 00:30", 10)
    with pytest.raises(DataError, match="does not open on the 1h grid"):
        resample_bars(bars, "4h", source_timeframe="1h")


def test_resample_when_filled_column_then_bar_is_filled_only_if_all_sources_were(hourly_bars):
    bars = hourly_bars("2024-01-01", 8).assign(filled=[True, True, True, True, True, False, True, True])
    out = resample_bars(bars, "4h", source_timeframe="1h")
    assert out["filled"].tolist() == [True, False]


def test_resample_when_empty_then_returns_empty(hourly_bars):
    assert resample_bars(hourly_bars("2024-01-01", 0), "4h", source_timeframe="1h").empty
