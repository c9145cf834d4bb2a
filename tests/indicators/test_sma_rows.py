"""sma_rows_nb, many SMA rows built together across windows (issue 14, item 1), against sma_nb: bit-identical
(NaN positions included) on the real BTC hourly closes, with NaN gaps, on random floats of mixed magnitudes,
for windows longer than the data and window 1, whichever bar ranges the rows are filled in."""

from __future__ import annotations

import numpy as np
import pytest

from peaktrade.data.kraken_csv import read_kraken_ohlcvt
from peaktrade.indicators import nb

#: benchmark (a)'s windows: every fast 5..54 and slow 60..255 step 5
GRID = sorted(set(range(5, 55)) | set(range(60, 260, 5)))


def _rows(x, windows, ranges=None):
    """Return sma_rows_nb's rows, filled range by range (default: all bars at once) into a poisoned out."""
    w = np.asarray(windows, dtype=np.int64)
    out = np.full((len(w), len(x)), 12345.0)
    for start, stop in ranges or [(0, len(x))]:
        nb.sma_rows_nb(x, w, out, start, stop)
    return out


def _mismatches(x, windows, out):
    """Return the windows whose row differs from sma_nb's (value or NaN position), with the first bad bars."""
    bad = {}
    for k, w in enumerate(windows):
        want = nb.sma_nb(x, int(w))
        same = (out[k] == want) | (np.isnan(out[k]) & np.isnan(want))
        if not same.all():
            bad[int(w)] = np.flatnonzero(~same)[:3].tolist()
    return bad


@pytest.fixture(scope="module")
def btc(shared_data):
    return read_kraken_ohlcvt(shared_data / "XBTUSD_60.csv.gz", timeframe="1h")["close"].to_numpy(np.float64).copy()


def test_sma_rows_when_every_window_1_to_300_on_real_btc_closes_then_bit_identical_to_sma_nb(btc):
    windows = range(1, 301)
    out = _rows(btc, windows)
    assert _mismatches(btc, windows, out) == {}
    for k, w in enumerate(windows):  # warm-up: NaN exactly before bar w - 1, values from there on
        assert np.isnan(out[k, :w - 1]).all() and not np.isnan(out[k, w - 1:]).any()


def test_sma_rows_when_a_grid_of_windows_then_walked_by_its_step_and_bit_identical_to_sma_nb(btc):
    # benchmark (a)'s windows go 5 at a time above 55 (the c-bar sums), and a sparse grid 7 at a time
    assert nb._sma_rows_stride_nb(np.array(GRID), nb.SMA_ROWS_BLOCK) == 5
    assert nb._sma_rows_stride_nb(np.arange(1, 301), nb.SMA_ROWS_BLOCK) == 1  # no gap > 1: one value at a time
    sparse = list(range(3, 400, 7))
    assert nb._sma_rows_stride_nb(np.array(sparse), nb.SMA_ROWS_BLOCK) == 7
    for windows in (GRID, sparse):
        assert _mismatches(btc, windows, _rows(btc, windows)) == {}


def test_sma_rows_when_closes_have_nan_gaps_and_rows_are_filled_in_bar_ranges_then_bit_identical(btc):
    x = btc.copy()
    for a, b in ((0, 1), (1000, 1001), (5000, 5003), (20_000, 20_100), (40_007, 40_008), (len(x) - 1, len(x))):
        x[a:b] = np.nan  # the first and last bars, single bars, runs shorter and longer than a window
    # ranges as a table's threads fill them: splits inside a block, a range shorter than the longest window
    n = len(x)
    ranges = [(0, 100), (100, 2049), (2049, 2300), (2300, 35_000), (35_000, n)]
    for windows in (GRID, [1, 2, 3, 150, 151, 399]):
        assert _mismatches(x, windows, _rows(x, windows, ranges)) == {}


@pytest.mark.parametrize("span", [4, 8])
def test_sma_rows_when_random_floats_of_mixed_magnitudes_and_signs_then_bit_identical(span):
    rng = np.random.default_rng(span)
    x = rng.choice([-1.0, 1.0], 20_000) * 10.0 ** rng.uniform(-span, span, 20_000)
    x[rng.integers(0, len(x), 20)] = np.nan
    for windows in (GRID, range(1, 301, 3)):
        assert _mismatches(x, windows, _rows(x, windows, [(0, 7_000), (7_000, len(x))])) == {}


def test_sma_rows_when_windows_reach_past_the_data_then_all_nan_rows_like_sma_nb():
    x = np.linspace(100.0, 200.0, 3000)
    windows = [1, 2999, 3000, 3001, 5000]
    out = _rows(x, windows)
    assert _mismatches(x, windows, out) == {}
    assert np.array_equal(out[0], x)  # window 1 is the data itself
    assert np.isnan(out[3]).all() and np.isnan(out[4]).all() and np.isnan(out[2, :-1]).all()


def test_sma_rows_when_only_a_bar_range_then_other_bars_are_left_as_they_were():
    x = np.arange(1.0, 5001.0)
    out = _rows(x, [3, 10], [(1000, 3000)])
    assert (out[:, :1000] == 12345.0).all() and (out[:, 3000:] == 12345.0).all()
    assert np.array_equal(out[0, 1000:3000], nb.sma_nb(x, 3)[1000:3000])


@pytest.mark.parametrize(("windows", "shape", "rng", "match"), [
    ([5, 5], (2, 100), (0, 100), "windows must be increasing whole numbers >= 1"),
    ([10, 5], (2, 100), (0, 100), "windows must be increasing whole numbers >= 1"),
    ([0, 5], (2, 100), (0, 100), "windows must be increasing whole numbers >= 1"),
    ([5, 10], (3, 100), (0, 100), r"out must have shape \(len\(windows\), len\(x\)\)"),
    ([5, 10], (2, 99), (0, 99), r"out must have shape \(len\(windows\), len\(x\)\)"),
    ([5, 10], (2, 100), (50, 101), r"need 0 <= start <= stop <= len\(x\)"),
])
def test_sma_rows_when_arguments_do_not_fit_then_raises_saying_what_is_expected(windows, shape, rng, match):
    with pytest.raises(ValueError, match=match):
        nb.sma_rows_nb(np.ones(100), np.array(windows, dtype=np.int64), np.empty(shape), *rng)
