"""Synthetic bars: determinism, validity, and the stylized facts of crypto returns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peaktrade.data import synthetic_bars, validate_bars
from peaktrade.errors import DataError


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return synthetic_bars(20_000, seed=11)


@pytest.fixture(scope="module")
def returns(bars) -> pd.Series:
    return np.log(bars["close"]).diff().dropna()


def acf(x: np.ndarray, lag: int) -> float:
    x = x - x.mean()
    return float((x[:-lag] * x[lag:]).sum() / (x * x).sum())


def test_synthetic_when_same_seed_then_identical_frame():
    pd.testing.assert_frame_equal(synthetic_bars(3000, seed=5), synthetic_bars(3000, seed=5), check_exact=True)
    assert not synthetic_bars(3000, seed=5).equals(synthetic_bars(3000, seed=6))


def test_synthetic_when_generated_then_valid_24_7_bars(bars):
    assert validate_bars(bars) is bars
    assert len(bars) == 20_000 and bars.index[0] == pd.Timestamp("2020-01-01", tz="UTC")
    assert (np.diff(bars.index.asi8) == 3600 * 10**9).all()
    assert bars["open"].iloc[0] == 30_000.0
    assert (bars["open"].to_numpy()[1:] == bars["close"].to_numpy()[:-1]).all()
    assert (bars["high"] > bars["low"]).mean() > 0.99  # bars have an intrabar range
    assert (bars["trades"] >= 1).all() and (bars["volume"] > 0).all()


def test_synthetic_when_options_given_then_honours_them():
    b = synthetic_bars(100, timeframe="4h", seed=1, start="2023-06-01 08:00", price=2.5)
    assert len(b) == 100 and b.index[0] == pd.Timestamp("2023-06-01 08:00", tz="UTC")
    assert (np.diff(b.index.asi8) == 4 * 3600 * 10**9).all()
    assert b["open"].iloc[0] == 2.5 and b["close"].between(0.01, 1000).all()


def test_synthetic_when_returns_examined_then_tails_are_fat(returns):
    assert returns.kurt() + 3 > 6  # Pearson kurtosis well above the normal's 3
    z = (returns - returns.mean()) / returns.std()
    assert (z.abs() > 5).mean() > 20 * 5.7e-7  # 5-sigma moves far more often than under a normal


def test_synthetic_when_returns_examined_then_volatility_clusters(returns):
    r = returns.to_numpy()
    abs_acf = np.mean([acf(np.abs(r), k) for k in range(1, 11)])
    raw_acf = np.mean([abs(acf(r, k)) for k in range(1, 11)])
    assert abs_acf > 0.1
    assert abs_acf > raw_acf + 0.05
    assert abs(acf(r, 1)) < 0.05  # returns themselves are close to unpredictable


def test_synthetic_when_examined_then_regimes_change_drift_and_volatility(returns):
    monthly = returns.groupby([returns.index.year, returns.index.month]).agg(["mean", "std"])
    assert monthly["std"].max() / monthly["std"].min() > 2
    assert (monthly["mean"] > 0).any() and (monthly["mean"] < 0).any()


def test_synthetic_when_examined_then_volume_rises_with_absolute_returns(bars, returns):
    vol = np.log(bars["volume"].iloc[1:].to_numpy())
    assert np.corrcoef(vol, returns.abs().to_numpy())[0, 1] > 0.3


@pytest.mark.parametrize("kw, message", [({"n": 0}, "n=0"), ({"n": 2.5}, "n=2.5"), ({"price": -1.0}, "price=-1.0"),
                                         ({"timeframe": "1x"}, "timeframe='1x'"), ({"start": "soon"}, "start='soon'")])
def test_synthetic_when_argument_invalid_then_raises_naming_it(kw, message):
    args = {"n": 10, **kw}
    n = args.pop("n")
    with pytest.raises(DataError, match=message):
        synthetic_bars(n, **args)
