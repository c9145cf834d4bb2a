"""The bars contract: validate_bars, timeframes, fingerprint."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pandas as pd
import pytest

from peaktrade.data import BARS_COLUMNS, parse_timeframe, timeframe_to_minutes, validate_bars
from peaktrade.data.schema import canonical_timeframe, fingerprint
from peaktrade.errors import DataError, PeakTradeError


def test_validate_when_bars_are_valid_then_returns_them_unchanged(hourly_bars):
    bars = hourly_bars("2024-01-01", 10, trades=True)
    assert validate_bars(bars) is bars
    assert BARS_COLUMNS == ("open", "high", "low", "close", "volume")


def test_validate_when_columns_are_int_then_returns_float64_copy(hourly_bars):
    bars = hourly_bars("2024-01-01", 5, close=[10, 11, 12, 11, 10])
    bars = bars.assign(open=bars["close"].astype("int64"), high=bars["high"].round() + 1,
                       low=bars["low"].round() - 1, volume=np.arange(5))
    bars["close"] = bars["close"].astype("int64")
    out = validate_bars(bars)
    assert out is not bars
    assert all(out[c].dtype == np.float64 for c in BARS_COLUMNS)
    assert bars["volume"].dtype == np.int64  # the input is not modified


def test_validate_when_index_is_microseconds_then_returns_nanosecond_index(hourly_bars):
    bars = hourly_bars("2024-01-01", 3)
    bars.index = bars.index.as_unit("us")
    out = validate_bars(bars)
    assert out.index.unit == "ns" and out.index.equals(bars.index)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b.tz_convert(None), "tz-aware UTC"),
        (lambda b: b.tz_convert("Europe/Berlin"), "tz-aware UTC"),
        (lambda b: b.rename_axis("date"), "named 'time'"),
        (lambda b: b.reset_index(), "DatetimeIndex"),
        (lambda b: b.drop(columns="volume"), "missing column(s) ['volume']"),
        (lambda b: b.assign(close=b["close"].astype(str)), "column 'close' must be float64"),
        (lambda b: b.assign(volume=True), "column 'volume' must be float64"),
        (lambda b: b.assign(filled=1), "column 'filled' must be bool"),
        (lambda b: b["close"], "expected a pandas DataFrame"),
    ],
)
def test_validate_when_structure_is_wrong_then_raises_naming_it(hourly_bars, mutate, message):
    bars = hourly_bars("2024-01-01", 4)
    with pytest.raises(DataError) as e:
        validate_bars(mutate(bars))
    assert message in str(e.value)


@pytest.mark.parametrize(
    "col, value, message",
    [
        ("close", np.nan, "close is nan"),
        ("open", np.inf, "open is inf"),
        ("volume", -1.0, "volume -1.0 is negative"),
        ("trades", -2.0, "trades -2.0 is negative"),
        ("high", 1.0, "high 1.0 < low"),
        ("low", 1e9, "high"),
    ],
)
def test_validate_when_a_row_is_bad_then_raises_naming_position_and_time(hourly_bars, col, value, message):
    bars = hourly_bars("2024-01-01", 6, trades=True)
    bars.iloc[3, bars.columns.get_loc(col)] = value
    with pytest.raises(DataError) as e:
        validate_bars(bars, name="mybars")
    text = str(e.value)
    assert text.startswith("mybars: row 3 (2024-01-01 03:00:00+00:00): ")
    assert message in text


def test_validate_when_low_above_body_then_says_so(hourly_bars):
    bars = hourly_bars("2024-01-01", 4, close=[10.0, 11.0, 12.0, 13.0])
    bars.iloc[2, bars.columns.get_loc("low")] = 11.5  # above open 11 but below high
    with pytest.raises(DataError, match=r"row 2 .*low 11.5 > min\(open 11.0, close 12.0\)"):
        validate_bars(bars)


def test_validate_when_high_below_body_then_says_so(hourly_bars):
    bars = hourly_bars("2024-01-01", 4, close=[10.0, 11.0, 12.0, 13.0])
    bars.iloc[1, bars.columns.get_loc("high")] = 10.5
    with pytest.raises(DataError, match=r"row 1 .*high 10.5 < max\(open 10.0, close 11.0\)"):
        validate_bars(bars)


def test_validate_when_several_rows_are_bad_then_names_the_first(hourly_bars):
    bars = hourly_bars("2024-01-01", 8)
    bars.iloc[6, 3] = np.nan  # close NaN at row 6
    bars.iloc[2, 4] = -5.0  # negative volume at row 2
    with pytest.raises(DataError, match=r"row 2 \(2024-01-01 02:00:00\+00:00\): volume -5.0"):
        validate_bars(bars)


def test_validate_when_index_has_duplicate_then_raises_naming_the_repeat(hourly_bars):
    bars = hourly_bars("2024-01-01", 5)
    idx = bars.index.tolist()
    idx[3] = idx[2]
    bars.index = pd.DatetimeIndex(idx, name="time")
    with pytest.raises(DataError, match=r"row 3 .*duplicate timestamp \(same as row 2\)"):
        validate_bars(bars)


def test_validate_when_index_is_unsorted_then_raises_out_of_order(hourly_bars):
    bars = hourly_bars("2024-01-01", 5).iloc[[0, 1, 3, 2, 4]]
    with pytest.raises(DataError, match=r"row 3 \(2024-01-01 02:00:00\+00:00\): out of order"):
        validate_bars(bars)


def test_validate_when_empty_then_accepts(hourly_bars):
    assert len(validate_bars(hourly_bars("2024-01-01", 0))) == 0


def test_data_error_when_raised_then_is_a_peaktrade_value_error():
    assert issubclass(DataError, PeakTradeError) and issubclass(DataError, ValueError)


@pytest.mark.parametrize(
    "text, minutes",
    [("1m", 1), ("5m", 5), ("15m", 15), ("30m", 30), ("1h", 60), ("4h", 240), ("12h", 720),
     ("1d", 1440), ("3d", 4320), ("1w", 10080), ("90m", 90), (" 2h ", 120)],
)
def test_parse_timeframe_when_valid_then_returns_timedelta(text, minutes):
    assert parse_timeframe(text) == pd.Timedelta(minutes=minutes)
    assert timeframe_to_minutes(text) == minutes


@pytest.mark.parametrize("text", ["1M", "0h", "1.5h", "h", "1hour", "hourly", "", "-1h", "1s", "1y", 60, None])
def test_parse_timeframe_when_invalid_then_raises_with_examples(text):
    with pytest.raises(DataError) as e:
        parse_timeframe(text)
    assert f"timeframe={text!r} is invalid" in str(e.value)
    assert "1h" in str(e.value)


def test_parse_timeframe_when_timedelta_then_accepts_whole_minutes_only():
    assert parse_timeframe(pd.Timedelta(hours=4)) == pd.Timedelta(minutes=240)
    with pytest.raises(DataError):
        parse_timeframe(pd.Timedelta(seconds=30))


@pytest.mark.parametrize("text, canon", [("60m", "1h"), ("1440m", "1d"), ("24h", "1d"), ("7d", "1w"), ("90m", "90m")])
def test_canonical_timeframe_when_spelled_differently_then_uses_largest_unit(text, canon):
    assert canonical_timeframe(text) == canon


def _reference_fingerprint(bars: pd.DataFrame) -> str:
    """Independent encoding with struct: int64 ns times, then each float column, little-endian."""
    h = hashlib.sha256()
    h.update(b"".join(struct.pack("<q", int(t.value)) for t in bars.index))
    cols = [*BARS_COLUMNS, *(["trades"] if "trades" in bars.columns else [])]
    for c in cols:
        h.update(b"".join(struct.pack("<d", float(v) + 0.0) for v in bars[c]))
    return h.hexdigest()


def test_fingerprint_when_computed_then_matches_documented_encoding(hourly_bars):
    bars = hourly_bars("2024-01-01", 7, trades=True)
    assert fingerprint(bars) == _reference_fingerprint(bars)
    assert fingerprint(bars.drop(columns="trades")) == _reference_fingerprint(bars.drop(columns="trades"))


def test_fingerprint_when_value_changes_then_differs_and_when_only_filled_or_sign_of_zero_then_not(hourly_bars):
    bars = hourly_bars("2024-01-01", 5)
    base = fingerprint(bars)
    changed = bars.copy()
    changed.iloc[2, 3] *= 1.0000001
    assert fingerprint(changed) != base
    assert fingerprint(bars.assign(filled=False)) == base
    zero, negzero = bars.assign(volume=0.0), bars.assign(volume=-0.0)
    assert fingerprint(zero) == fingerprint(negzero)
