"""Indicators against vectorbt's, where the definitions match (or converge).

Definitional differences (why some comparisons only hold after a warm-up):

* vbt.BBANDS(ewm=False) = SMA ± alpha·population std: identical definition, compared everywhere.
* vbt.MSTD(ewm=False) default ddof=0: identical to ``rolling_std_nb``.
* vbt.RSI(ewm=False) (its default) is Cutler's RSI (simple averages), not Wilder's. With
  ewm=True it uses alpha = 2 / (span + 1) seeded with the first value (adjust=False), so
  Wilder's alpha = 1/n is span 2n − 1; ours is SMA-seeded, so the two converge after the warm-up.
* vbt.ATR(ewm=True) likewise (span 2n − 1 for Wilder) and its true range on bar 0 is high − low;
  ours is NaN there (no previous close), as in TA-Lib.
* vbt.MACD(macd_ewm=True, signal_ewm=True) EMAs start from the first value, ours from an SMA seed:
  equal after the warm-up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from peaktrade.indicators import nb

# vectorbt's own kernels take reflected lists; numba warns about that on their first compile.
pytestmark = pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaPendingDeprecationWarning")

N = 1500
TAIL = 600  # bars compared after the seeds' influence decayed below ~1e-9


@pytest.fixture(scope="module")
def hlc():
    rng = np.random.default_rng(11)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, N)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, N)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, N)))
    return high, low, close


def test_bollinger_when_compared_to_vbt_bbands_then_equal_everywhere(hlc):
    _, _, c = hlc
    bb = vbt.BBANDS.run(pd.Series(c), window=20, alpha=2.0)
    mid, up, lo = nb.bollinger_nb(c, 20, 2.0)
    np.testing.assert_allclose(mid, bb.middle.to_numpy(), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(up, bb.upper.to_numpy(), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(lo, bb.lower.to_numpy(), rtol=1e-9, equal_nan=True)


def test_rolling_std_when_compared_to_vbt_mstd_then_equal_everywhere(hlc):
    _, _, c = hlc
    ref = vbt.MSTD.run(pd.Series(c), window=30).mstd.to_numpy()
    np.testing.assert_allclose(nb.rolling_std_nb(c, 30, 0), ref, rtol=1e-9, equal_nan=True)


def test_rsi_when_compared_to_vbt_rsi_with_wilder_span_then_equal_after_warmup(hlc):
    _, _, c = hlc
    n = 14
    ref = vbt.RSI.run(pd.Series(c), window=2 * n - 1, ewm=True).rsi.to_numpy()
    np.testing.assert_allclose(nb.rsi_nb(c, n)[-TAIL:], ref[-TAIL:], rtol=1e-8)


def test_atr_when_compared_to_vbt_atr_with_wilder_span_then_equal_after_warmup(hlc):
    h, lo, c = hlc
    n = 14
    ref = vbt.ATR.run(pd.Series(h), pd.Series(lo), pd.Series(c), window=2 * n - 1, ewm=True).atr.to_numpy()
    np.testing.assert_allclose(nb.atr_nb(h, lo, c, n)[-TAIL:], ref[-TAIL:], rtol=1e-8)


def test_true_range_when_compared_to_vbt_then_equal_from_bar_1(hlc):
    h, lo, c = hlc
    ref = vbt.ATR.run(pd.Series(h), pd.Series(lo), pd.Series(c), window=14).tr.to_numpy()
    np.testing.assert_allclose(nb.true_range_nb(h, lo, c)[1:], ref[1:], rtol=1e-12)


def test_macd_when_compared_to_vbt_macd_ewm_then_equal_after_warmup(hlc):
    _, _, c = hlc
    ref = vbt.MACD.run(pd.Series(c), fast_window=12, slow_window=26, signal_window=9,
                       macd_ewm=True, signal_ewm=True)
    line, sig, hist = nb.macd_nb(c, 12, 26, 9)
    np.testing.assert_allclose(line[-TAIL:], ref.macd.to_numpy()[-TAIL:], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(sig[-TAIL:], ref.signal.to_numpy()[-TAIL:], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(hist[-TAIL:], ref.hist.to_numpy()[-TAIL:], rtol=1e-6, atol=1e-9)


def test_sma_when_compared_to_vbt_ma_then_equal_everywhere(hlc):
    _, _, c = hlc
    ref = vbt.MA.run(pd.Series(c), window=50).ma.to_numpy()
    np.testing.assert_allclose(nb.sma_nb(c, 50), ref, rtol=1e-9, equal_nan=True)
