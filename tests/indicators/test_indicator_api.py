"""The pandas wrappers: same index in and out, same numbers as the kernels, options validated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peaktrade.errors import PeakTradeError
from peaktrade.indicators import api, nb


@pytest.fixture(scope="module")
def bars():
    rng = np.random.default_rng(5)
    n = 300
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    idx = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame({"high": close * 1.003, "low": close * 0.997, "close": close}, index=idx)


SERIES_CASES = [
    ("sma", lambda b: api.sma(b.close, window=10), lambda h, lo, c: nb.sma_nb(c, 10)),
    ("ema", lambda b: api.ema(b.close, window=10), lambda h, lo, c: nb.ema_nb(c, 10)),
    ("rma", lambda b: api.rma(b.close, window=10), lambda h, lo, c: nb.rma_nb(c, 10)),
    ("rolling_std", lambda b: api.rolling_std(b.close, window=10), lambda h, lo, c: nb.rolling_std_nb(c, 10, 0)),
    ("rolling_quantile", lambda b: api.rolling_quantile(b.close, window=10, q=0.2),
     lambda h, lo, c: nb.rolling_quantile_nb(c, 10, 0.2)),
    ("rsi", lambda b: api.rsi(b.close, window=10), lambda h, lo, c: nb.rsi_nb(c, 10)),
    ("roc", lambda b: api.roc(b.close, window=10), lambda h, lo, c: nb.roc_nb(c, 10)),
    ("true_range", lambda b: api.true_range(b.high, b.low, b.close), lambda h, lo, c: nb.true_range_nb(h, lo, c)),
    ("atr", lambda b: api.atr(b.high, b.low, b.close, window=10), lambda h, lo, c: nb.atr_nb(h, lo, c, 10)),
    ("zscore", lambda b: api.zscore(b.close, window=10), lambda h, lo, c: nb.zscore_nb(c, 10)),
    ("log_returns", lambda b: api.log_returns(b.close), lambda h, lo, c: nb.log_returns_nb(c)),
    ("realized_vol", lambda b: api.realized_vol(b.close, window=10), lambda h, lo, c: nb.realized_vol_nb(c, 10)),
]


@pytest.mark.parametrize(("name", "wrapper", "kernel"), SERIES_CASES, ids=[c[0] for c in SERIES_CASES])
def test_series_wrapper_when_called_then_returns_kernel_values_on_the_same_index(bars, name, wrapper, kernel):
    out = wrapper(bars)
    assert isinstance(out, pd.Series)
    assert out.index.equals(bars.index)
    arrs = (bars.high.to_numpy(), bars.low.to_numpy(), bars.close.to_numpy())
    np.testing.assert_array_equal(out.to_numpy(), kernel(*arrs))


FRAME_CASES = [
    ("bollinger", lambda b: api.bollinger(b.close, window=10, k=1.5), ("mid", "upper", "lower"),
     lambda h, lo, c: nb.bollinger_nb(c, 10, 1.5)),
    ("macd", lambda b: api.macd(b.close, fast=5, slow=10, signal=4), ("macd", "signal", "hist"),
     lambda h, lo, c: nb.macd_nb(c, 5, 10, 4)),
    ("adx", lambda b: api.adx(b.high, b.low, b.close, window=10), ("adx", "plus_di", "minus_di"),
     lambda h, lo, c: nb.adx_nb(h, lo, c, 10)),
    ("donchian", lambda b: api.donchian(b.high, b.low, window=10), ("upper", "lower"),
     lambda h, lo, c: nb.donchian_nb(h, lo, 10)),
]


@pytest.mark.parametrize(("name", "wrapper", "columns", "kernel"), FRAME_CASES, ids=[c[0] for c in FRAME_CASES])
def test_frame_wrapper_when_called_then_returns_named_columns_on_the_same_index(bars, name, wrapper, columns, kernel):
    out = wrapper(bars)
    assert list(out.columns) == list(columns)
    assert out.index.equals(bars.index)
    arrs = (bars.high.to_numpy(), bars.low.to_numpy(), bars.close.to_numpy())
    for col, expected in zip(columns, kernel(*arrs)):
        np.testing.assert_array_equal(out[col].to_numpy(), expected)


def test_realized_vol_when_periods_per_year_given_then_annualized(bars):
    per_bar = api.realized_vol(bars.close, window=10)
    annual = api.realized_vol(bars.close, window=10, periods_per_year=8760)
    np.testing.assert_allclose(annual.to_numpy(), per_bar.to_numpy() * np.sqrt(8760), equal_nan=True)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda b: api.sma(b.close, window=0), "window=0"),
        (lambda b: api.rsi(b.close, window=2.5), "window=2.5"),
        (lambda b: api.rolling_std(b.close, window=5, ddof=2), "ddof=2"),
        (lambda b: api.rolling_quantile(b.close, window=5, q=1.5), "q=1.5"),
        (lambda b: api.macd(b.close, fast=26, slow=12), "fast=26"),
        (lambda b: api.bollinger(b.close, k=-1), "k=-1"),
        (lambda b: api.sma(b.close.to_numpy(), window=3), "x="),
        (lambda b: api.atr(b.high, b.low.iloc[1:], b.close), "low"),
    ],
)
def test_wrapper_when_option_is_invalid_then_error_names_it(bars, call, needle):
    with pytest.raises(PeakTradeError, match=needle.replace(".", r"\.").replace("(", r"\(")) as info:
        call(bars)
    assert isinstance(info.value, ValueError)


def test_wrapper_when_options_passed_positionally_then_type_error(bars):
    with pytest.raises(TypeError):
        api.sma(bars.close, 10)
