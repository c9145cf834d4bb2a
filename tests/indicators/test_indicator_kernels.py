"""Indicator kernels against hand-computed examples and independent pandas formulas written here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade.indicators import nb


def random_walk(n: int = 600, seed: int = 7, level: float = 100.0, vol: float = 0.01):
    """Return (high, low, close) float64 arrays of a seeded geometric random walk."""
    rng = np.random.default_rng(seed)
    close = level * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, vol / 2, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, vol / 2, n)))
    return high, low, close


def wilder_ref(x: pd.Series, n: int) -> pd.Series:
    """Wilder's smoothing via pandas: seed = mean of the first n valid values, then ewm(alpha=1/n)."""
    start = x.first_valid_index()
    pos = x.index.get_loc(start)
    seeded = x.copy()
    seeded.iloc[: pos + n - 1] = np.nan
    seeded.iloc[pos + n - 1] = x.iloc[pos: pos + n].mean()
    return seeded.ewm(alpha=1.0 / n, adjust=False).mean()


def ema_ref(x: pd.Series, n: int) -> pd.Series:
    """SMA-seeded EMA via pandas ewm(span=n, adjust=False)."""
    start = x.index.get_loc(x.first_valid_index())
    seeded = x.copy()
    seeded.iloc[: start + n - 1] = np.nan
    seeded.iloc[start + n - 1] = x.iloc[start: start + n].mean()
    return seeded.ewm(span=n, adjust=False).mean()


def true_range_ref(h: pd.Series, lo: pd.Series, c: pd.Series) -> pd.Series:
    pc = c.shift(1)
    tr = pd.concat([h - lo, (h - pc).abs(), (lo - pc).abs()], axis=1).max(axis=1)
    tr.iloc[0] = np.nan
    return tr


def assert_close(actual: np.ndarray, expected, *, rtol: float = 1e-9, atol: float = 1e-9) -> None:
    np.testing.assert_allclose(actual, np.asarray(expected, dtype=float), rtol=rtol, atol=atol, equal_nan=True)


# ---------------------------------------------------------------- moving averages


def test_sma_when_compared_to_pandas_rolling_mean_then_equal():
    _, _, c = random_walk()
    assert_close(nb.sma_nb(c, 20), pd.Series(c).rolling(20).mean())


def test_ema_when_compared_to_sma_seeded_pandas_ewm_then_equal():
    _, _, c = random_walk()
    assert_close(nb.ema_nb(c, 12), ema_ref(pd.Series(c), 12))


def test_rma_when_compared_to_sma_seeded_pandas_ewm_then_equal():
    _, _, c = random_walk()
    x = np.r_[np.nan, np.nan, c]
    assert_close(nb.rma_nb(x, 14), wilder_ref(pd.Series(x), 14))


def test_rma_when_hand_computed_then_matches():
    # seed (1+2+3)/3 = 2 at bar 2; then (2*2+6)/3 = 10/3; then (10/3*2+0)/3 = 20/9
    assert_close(nb.rma_nb(np.array([1.0, 2.0, 3.0, 6.0, 0.0]), 3), [np.nan, np.nan, 2.0, 10 / 3, 20 / 9])


def test_rma_when_nan_inside_seed_then_seed_restarts_after_it():
    out = nb.rma_nb(np.array([1.0, np.nan, 2.0, 4.0, 6.0]), 2)
    assert_close(out, [np.nan, np.nan, np.nan, 3.0, 4.5])


# ---------------------------------------------------------------- rolling std / quantile


@pytest.mark.parametrize("ddof", [0, 1])
def test_rolling_std_when_compared_to_pandas_then_equal(ddof):
    _, _, c = random_walk()
    assert_close(nb.rolling_std_nb(c, 20, ddof), pd.Series(c).rolling(20).std(ddof=ddof))


def test_rolling_std_when_prices_are_large_and_series_long_then_no_drift():
    _, _, c = random_walk(n=20_000, level=50_000.0, vol=0.0005, seed=3)
    ref = pd.Series(c).rolling(50).std(ddof=0).to_numpy()
    assert_close(nb.rolling_std_nb(c, 50, 0), ref, rtol=1e-7, atol=1e-7)


def test_rolling_std_when_window_is_constant_then_exactly_zero():
    x = np.r_[np.linspace(1.0, 9.0, 9), np.full(10, 3.3)]
    out = nb.rolling_std_nb(x, 5, 0)
    assert np.all(out[13:] == 0.0)


def test_rolling_std_when_window_holds_nan_then_nan():
    x = np.arange(10, dtype=float)
    x[4] = np.nan
    out = nb.rolling_std_nb(x, 3, 0)
    assert np.isnan(out[4:7]).all()
    assert_close(out[7:], pd.Series(x).rolling(3).std(ddof=0).to_numpy()[7:])


def test_rolling_quantile_when_compared_to_pandas_then_equal():
    _, _, c = random_walk()
    x = np.round(c, 0)  # repeated values exercise removal of duplicates
    for q in (0.0, 0.1, 0.5, 0.9, 1.0):
        assert_close(nb.rolling_quantile_nb(x, 30, q), pd.Series(x).rolling(30).quantile(q))


def test_rolling_quantile_when_window_holds_nan_then_nan():
    x = np.arange(10, dtype=float)
    x[2] = np.nan
    out = nb.rolling_quantile_nb(x, 3, 0.5)
    assert np.isnan(out[:5]).all()
    assert_close(out[5:], [4.0, 5.0, 6.0, 7.0, 8.0])


def test_rolling_max_min_when_compared_to_pandas_then_equal():
    h, lo, _ = random_walk()
    assert_close(nb.rolling_max_nb(h, 17), pd.Series(h).rolling(17).max())
    assert_close(nb.rolling_min_nb(lo, 17), pd.Series(lo).rolling(17).min())


# ---------------------------------------------------------------- oscillators


def test_rsi_when_hand_computed_then_matches():
    # gains 1,1,0,1 and losses 0,0,1,0 from bar 1; seed at bar 2: ag=1, al=0 -> 100;
    # bar 3: ag=.5, al=.5 -> 50; bar 4: ag=.75, al=.25 -> 75
    assert_close(nb.rsi_nb(np.array([1.0, 2.0, 3.0, 2.0, 3.0]), 2), [np.nan, np.nan, 100.0, 50.0, 75.0])


def test_rsi_when_compared_to_wilder_formula_in_pandas_then_equal():
    _, _, c = random_walk()
    s = pd.Series(c)
    d = s.diff()
    ag = wilder_ref(d.clip(lower=0), 14)
    al = wilder_ref(-d.clip(upper=0), 14)
    assert_close(nb.rsi_nb(c, 14), 100 - 100 / (1 + ag / al))


def test_rsi_when_prices_are_flat_then_50_and_when_only_rising_then_100():
    assert_close(nb.rsi_nb(np.full(6, 5.0), 3)[3:], [50.0, 50.0, 50.0])
    assert_close(nb.rsi_nb(np.arange(6.0), 3)[3:], [100.0, 100.0, 100.0])
    assert_close(nb.rsi_nb(np.arange(6.0)[::-1].copy(), 3)[3:], [0.0, 0.0, 0.0])


def test_roc_when_compared_to_pandas_pct_change_then_equal():
    _, _, c = random_walk()
    assert_close(nb.roc_nb(c, 10), pd.Series(c).pct_change(10, fill_method=None))
    assert_close(nb.roc_nb(np.array([2.0, 0.0, 3.0, 4.0]), 1), [np.nan, -1.0, np.nan, 1 / 3])


def test_macd_when_compared_to_sma_seeded_pandas_ewm_then_equal():
    _, _, c = random_walk()
    s = pd.Series(c)
    line = ema_ref(s, 12) - ema_ref(s, 26)
    sig = ema_ref(line, 9)
    got_line, got_sig, got_hist = nb.macd_nb(c, 12, 26, 9)
    assert_close(got_line, line)
    assert_close(got_sig, sig)
    assert_close(got_hist, line - sig)
    assert np.isnan(got_sig[: 26 + 9 - 2]).all() and not np.isnan(got_sig[26 + 9 - 2])


def test_bollinger_when_compared_to_pandas_then_equal():
    _, _, c = random_walk()
    s = pd.Series(c)
    mid, up, lo = nb.bollinger_nb(c, 20, 2.5)
    sd = s.rolling(20).std(ddof=0)
    assert_close(mid, s.rolling(20).mean())
    assert_close(up, s.rolling(20).mean() + 2.5 * sd)
    assert_close(lo, s.rolling(20).mean() - 2.5 * sd)


def test_zscore_when_compared_to_pandas_then_equal():
    _, _, c = random_walk()
    s = pd.Series(c)
    assert_close(nb.zscore_nb(c, 20), (s - s.rolling(20).mean()) / s.rolling(20).std(ddof=0))


def test_zscore_when_window_is_flat_then_nan():
    assert np.isnan(nb.zscore_nb(np.full(10, 2.0), 4)).all()


# ---------------------------------------------------------------- ranges


H = np.array([10.0, 11.0, 13.0, 12.0, 9.0])
L = np.array([8.0, 9.0, 10.0, 7.0, 8.5])
C = np.array([9.0, 10.0, 12.0, 8.0, 9.0])


def test_true_range_when_hand_computed_then_matches():
    assert_close(nb.true_range_nb(H, L, C), [np.nan, 2.0, 3.0, 5.0, 1.0])


def test_atr_when_hand_computed_then_matches():
    # TR 2, 3, 5, 1 from bar 1; seed (2+3)/2 at bar 2; (2.5+5)/2; (3.75+1)/2
    assert_close(nb.atr_nb(H, L, C, 2), [np.nan, np.nan, 2.5, 3.75, 2.375])


def test_atr_when_compared_to_pandas_wilder_then_equal():
    h, lo, c = random_walk()
    tr = true_range_ref(pd.Series(h), pd.Series(lo), pd.Series(c))
    assert_close(nb.atr_nb(h, lo, c, 14), wilder_ref(tr, 14))


def test_adx_when_hand_computed_then_matches():
    # +DM 1,2,0,0 / -DM 0,0,3,0 / TR 2,3,5,1 (bars 1-4), Wilder n=2:
    # smoothed TR 2.5, 3.75, 2.375; +DM 1.5, .75, .375; -DM 0, 1.5, .75
    # +DI 60, 20, 15.79; -DI 0, 40, 31.58; DX 100, 33.3, 33.3; ADX (100+33.3)/2, then 50
    adx, plus, minus = nb.adx_nb(H, L, C, 2)
    assert_close(plus, [np.nan, np.nan, 60.0, 20.0, 100 * 0.375 / 2.375])
    assert_close(minus, [np.nan, np.nan, 0.0, 40.0, 100 * 0.75 / 2.375])
    assert_close(adx, [np.nan, np.nan, np.nan, 200 / 3, 50.0])


def test_adx_when_compared_to_pandas_wilder_then_equal():
    h, lo, c = random_walk()
    hs, ls, cs = pd.Series(h), pd.Series(lo), pd.Series(c)
    up, down = hs.diff(), -ls.diff()
    pdm = pd.Series(np.where((up > down) & (up > 0), up, 0.0)).where(up.notna())
    mdm = pd.Series(np.where((down > up) & (down > 0), down, 0.0)).where(down.notna())
    tr = wilder_ref(true_range_ref(hs, ls, cs), 14)
    plus = 100 * wilder_ref(pdm, 14) / tr
    minus = 100 * wilder_ref(mdm, 14) / tr
    dx = 100 * (plus - minus).abs() / (plus + minus)
    adx, p, m = nb.adx_nb(h, lo, c, 14)
    assert_close(p, plus)
    assert_close(m, minus)
    assert_close(adx, wilder_ref(dx, 14))
    assert np.isnan(adx[: 2 * 14 - 1]).all() and not np.isnan(adx[2 * 14 - 1])


def test_donchian_when_hand_computed_then_excludes_current_bar():
    high = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    low = np.array([0.0, 2.0, 1.0, 4.0, 3.0])
    up, lo = nb.donchian_nb(high, low, 2)
    assert_close(up, [np.nan, np.nan, 3.0, 3.0, 5.0])
    assert_close(lo, [np.nan, np.nan, 0.0, 1.0, 1.0])


def test_donchian_when_compared_to_pandas_shifted_rolling_then_equal():
    h, lo, _ = random_walk()
    up, dn = nb.donchian_nb(h, lo, 20)
    assert_close(up, pd.Series(h).rolling(20).max().shift(1))
    assert_close(dn, pd.Series(lo).rolling(20).min().shift(1))


def test_realized_vol_when_compared_to_pandas_log_return_std_then_equal():
    _, _, c = random_walk()
    ref = np.log(pd.Series(c)).diff().rolling(30).std(ddof=0)
    assert_close(nb.realized_vol_nb(c, 30), ref)
    assert np.isnan(nb.realized_vol_nb(c, 30)[:30]).all()


# ---------------------------------------------------------------- causality


KERNELS = {
    "sma": lambda h, lo, c: (nb.sma_nb(c, 5),),
    "ema": lambda h, lo, c: (nb.ema_nb(c, 5),),
    "rma": lambda h, lo, c: (nb.rma_nb(c, 5),),
    "std": lambda h, lo, c: (nb.rolling_std_nb(c, 5, 0),),
    "quantile": lambda h, lo, c: (nb.rolling_quantile_nb(c, 6, 0.3),),
    "rsi": lambda h, lo, c: (nb.rsi_nb(c, 5),),
    "bollinger": lambda h, lo, c: nb.bollinger_nb(c, 5, 2.0),
    "macd": lambda h, lo, c: nb.macd_nb(c, 3, 6, 4),
    "roc": lambda h, lo, c: (nb.roc_nb(c, 4),),
    "atr": lambda h, lo, c: (nb.atr_nb(h, lo, c, 4),),
    "adx": lambda h, lo, c: nb.adx_nb(h, lo, c, 4),
    "zscore": lambda h, lo, c: (nb.zscore_nb(c, 5),),
    "donchian": lambda h, lo, c: nb.donchian_nb(h, lo, 4),
    "realized_vol": lambda h, lo, c: (nb.realized_vol_nb(c, 5),),
}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 80))
def test_every_kernel_when_input_is_truncated_then_prefix_is_unchanged(seed, k):
    h, lo, c = random_walk(n=80, seed=seed)
    for name, fn in KERNELS.items():
        full = fn(h, lo, c)
        part = fn(h[:k].copy(), lo[:k].copy(), c[:k].copy())
        for a, b in zip(full, part):
            np.testing.assert_array_equal(a[:k], b, err_msg=name)
