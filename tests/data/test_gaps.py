"""Gap audit and gap policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peaktrade.data import GapReport, apply_gap_policy, audit_gaps, validate_bars
from peaktrade.errors import DataError


def holey(bars_of, hours: list[int], **kw) -> pd.DataFrame:
    """Hourly bars at the given hour offsets from 2024-01-01 00:00 UTC."""
    times = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(hours, unit="h")
    return bars_of(times, **kw)


def test_audit_when_no_gaps_then_reports_zero(hourly_bars):
    r = audit_gaps(hourly_bars("2024-01-01", 48), "1h")
    assert isinstance(r, GapReport)
    assert (r.n_gaps, r.missing_bars, r.longest, r.longest_start, r.longest_end, r.rows) == (0, 0, 0, None, None, 48)
    assert r.table.empty and list(r.table.columns) == ["start", "end", "missing"]


def test_audit_when_holes_then_table_lists_each_with_first_and_last_missing_bar(bars_of):
    # present: 0,1 | missing 2,3,4 | 5 | missing 6 | 7,8 | missing 9..12 | 13
    r = audit_gaps(holey(bars_of, [0, 1, 5, 7, 8, 13]), "1h")
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    assert r.n_gaps == 3 and r.missing_bars == 3 + 1 + 4 and r.longest == 4
    assert r.longest_start == t0 + pd.Timedelta(hours=9) and r.longest_end == t0 + pd.Timedelta(hours=12)
    assert r.table["start"].tolist() == [t0 + pd.Timedelta(hours=h) for h in (2, 6, 9)]
    assert r.table["end"].tolist() == [t0 + pd.Timedelta(hours=h) for h in (4, 6, 12)]
    assert r.table["missing"].tolist() == [3, 1, 4]
    assert r.to_dict() == {"n_gaps": 3, "missing_bars": 8, "longest": 4}


def test_audit_when_two_holes_tie_for_longest_then_reports_the_earliest(bars_of):
    r = audit_gaps(holey(bars_of, [0, 3, 4, 7]), "1h")
    assert r.longest == 2 and r.longest_start == pd.Timestamp("2024-01-01 01:00", tz="UTC")


def test_audit_when_timeframe_is_coarser_multiple_then_counts_in_its_units(bars_of):
    times = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05"], utc=True)
    r = audit_gaps(bars_of(times), "1d")
    assert (r.n_gaps, r.missing_bars, r.timeframe) == (1, 2, "1d")


def test_audit_when_bars_are_off_the_timeframe_grid_then_raises(hourly_bars):
    with pytest.raises(DataError, match=r"row 1 .* not a whole multiple of the timeframe 1d; is the timeframe right\?"):
        audit_gaps(hourly_bars("2024-01-01", 5), "1d")


def test_audit_when_empty_or_single_bar_then_reports_zero(hourly_bars):
    assert audit_gaps(hourly_bars("2024-01-01", 0), "1h").n_gaps == 0
    assert audit_gaps(hourly_bars("2024-01-01", 1), "1h").n_gaps == 0


def test_apply_policy_when_keep_then_returns_same_object(bars_of):
    bars = holey(bars_of, [0, 3, 4])
    assert apply_gap_policy(bars, "1h", "keep") is bars


def test_apply_policy_when_fill_then_inserts_flat_bars_at_previous_close(bars_of):
    bars = holey(bars_of, [0, 1, 4, 5, 7], trades=True)
    out = apply_gap_policy(bars, "1h", "fill")
    validate_bars(out)
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    assert out.index.tolist() == [t0 + pd.Timedelta(hours=h) for h in range(8)]
    assert out["filled"].tolist() == [False, False, True, True, False, False, True, False]
    # present bars are unchanged
    pd.testing.assert_frame_equal(out.loc[~out["filled"], bars.columns], bars)
    for h, prev in ((2, 1), (3, 1), (6, 5)):
        row, prev_close = out.iloc[h], out["close"].iloc[prev]
        assert row[["open", "high", "low", "close"]].tolist() == [prev_close] * 4
        assert row["volume"] == 0.0 and row["trades"] == 0.0
    assert audit_gaps(out, "1h").n_gaps == 0


def test_apply_policy_when_fill_twice_then_second_is_a_no_op(bars_of):
    once = apply_gap_policy(holey(bars_of, [0, 2, 5]), "1h", "fill")
    twice = apply_gap_policy(once, "1h", "fill")
    pd.testing.assert_frame_equal(once, twice)


def test_apply_policy_when_fill_without_gaps_then_adds_false_filled_column(hourly_bars):
    bars = hourly_bars("2024-01-01", 4)
    out = apply_gap_policy(bars, "1h", "fill")
    assert out["filled"].dtype == np.bool_ and not out["filled"].any()
    pd.testing.assert_frame_equal(out[bars.columns], bars)


def test_apply_policy_when_unknown_policy_then_raises_naming_value(hourly_bars):
    with pytest.raises(DataError, match=r"policy='drop' is invalid: expected 'keep' or 'fill'"):
        apply_gap_policy(hourly_bars("2024-01-01", 3), "1h", "drop")


def test_apply_policy_when_policy_omitted_then_uses_config(make_cfg, bars_of):
    bars = holey(bars_of, [0, 2])
    make_cfg(data={"gaps": "fill"})
    assert len(apply_gap_policy(bars, "1h")) == 3
    make_cfg(data={"gaps": "keep"})
    assert apply_gap_policy(bars, "1h") is bars
