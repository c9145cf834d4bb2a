"""The fast SMA (one scratch row, divisions in a second pass) against the formulation it replaced
(issue 14, item 1): bit-identical on the real BTC hourly closes, with NaN gaps and warm-up."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from peaktrade.data.kraken_csv import read_kraken_ohlcvt
from peaktrade.indicators import nb


@njit(cache=True)
def _old_window_sums_nb(x, window):
    """``window_sums_nb(x, window, False)`` as it was before the step was shared (verbatim)."""
    n = x.shape[0]
    s_hi = np.full(n, np.nan)
    s_lo = np.zeros(n)
    if window < 1:
        return s_hi, s_lo
    cnt = 0
    since = 0
    sh = 0.0
    sl = 0.0
    for i in range(n):
        v = x[i]
        if np.isnan(v):
            cnt = 0
            since = 0
            sh = 0.0
            sl = 0.0
            continue
        cnt += 1
        since += 1
        if since > window and cnt > window:
            sh = 0.0
            sl = 0.0
            for j in range(i - window + 1, i + 1):
                sh, sl = nb.acc_add_nb(sh, sl, x[j])
            since = 1
        else:
            sh, sl = nb.acc_add_nb(sh, sl, v)
            if cnt > window:
                sh, sl = nb.acc_add_nb(sh, sl, -x[i - window])
        if cnt >= window:
            s_hi[i], s_lo[i] = nb.dd_norm_nb(sh, sl)
    return s_hi, s_lo


@njit(cache=True)
def _old_sma_nb(x, window):
    n = x.shape[0]
    out = np.full(n, np.nan)
    s_hi, s_lo = _old_window_sums_nb(x, window)
    w = float(window)
    for i in range(n):
        if not np.isnan(s_hi[i]):
            out[i] = nb.dd_div_nb(s_hi[i], s_lo[i], w)
    return out


@pytest.fixture(scope="module")
def gappy_btc(shared_data):
    """The real BTC hourly closes with NaN gaps: single bars, runs shorter and longer than a window, the
    first and last bars."""
    x = read_kraken_ohlcvt(shared_data / "XBTUSD_60.csv.gz", timeframe="1h")["close"].to_numpy(np.float64).copy()
    for a, b in ((0, 1), (1000, 1001), (5000, 5003), (20_000, 20_100), (40_007, 40_008), (len(x) - 1, len(x))):
        x[a:b] = np.nan
    return x


def test_sma_when_two_pass_then_bit_identical_to_the_window_sums_formulation(gappy_btc):
    # every window of benchmark (a), and the edges: 1, 2, a window longer than a gap-free run, longer than the data
    for w in [1, 2, 3, *range(5, 55), *range(60, 260, 5), 20_050, len(gappy_btc), len(gappy_btc) + 1]:
        got, want = nb.sma_nb(gappy_btc, w), _old_sma_nb(gappy_btc, w)
        assert np.array_equal(got, want, equal_nan=True), f"window {w}: {np.flatnonzero(~((got == want) | np.isnan(got) & np.isnan(want)))[:5]}"


def test_window_sums_when_shared_step_then_bit_identical_to_the_old_loop(gappy_btc):
    for w in (1, 5, 61, 255):
        s_hi, s_lo, q_hi, q_lo = nb.window_sums_nb(gappy_btc, w, False)
        o_hi, o_lo = _old_window_sums_nb(gappy_btc, w)
        assert np.array_equal(s_hi, o_hi, equal_nan=True) and np.array_equal(s_lo, o_lo)
        assert q_hi.shape == q_lo.shape == (0,)
        # with squares the sums themselves are unchanged
        s2_hi, s2_lo, _, _ = nb.window_sums_nb(gappy_btc, w, True)
        assert np.array_equal(s2_hi, o_hi, equal_nan=True) and np.array_equal(s2_lo, o_lo)
