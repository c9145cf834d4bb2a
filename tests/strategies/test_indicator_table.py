"""IndicatorTable's deferred rows (issue 14, item 1): ``row(key, fn, *args)`` is computed in ``build``,
straight into the table and on a thread pool when there is enough work, with the same values as eager rows."""

from __future__ import annotations

import threading

import numba
import numpy as np
import pytest

from peaktrade.indicators.nb import ema_nb, sma_nb
from peaktrade.strategies.base import IndicatorTable, Prices


@pytest.fixture(scope="module")
def prices() -> Prices:
    rng = np.random.default_rng(7)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 20_000)))
    close[500:503] = np.nan  # a gap: the rows' warm-up starts again after it
    return Prices(close, close, close, close, np.zeros_like(close))


def test_build_when_rows_are_deferred_with_args_then_equal_to_eager_rows_and_bound_at_call(prices):
    windows = [5, 13, 60, 5, 200]  # a repeated key is computed once
    lazy, eager = IndicatorTable(prices), IndicatorTable(prices)
    lazy_idx, eager_idx = [], []
    for w in windows:  # the loop variable changes after each call: args are bound when row() is called
        lazy_idx.append(lazy.row(("sma", w), sma_nb, prices.close, w))
        eager_idx.append(eager.row(("sma", w), lambda w=w: sma_nb(prices.close, w)))
    lazy_idx.append(lazy.row(("ema", 21), ema_nb, prices.close, 21))
    eager_idx.append(eager.row(("ema", 21), lambda: ema_nb(prices.close, 21)))
    a = lazy.build([lazy_idx], [[]])
    b = eager.build([eager_idx], [[]])
    assert lazy_idx == eager_idx == [5, 6, 7, 5, 8, 9]
    assert a.ind.flags.c_contiguous and a.ind.dtype == np.float64 and a.ind.shape == (10, prices.n)
    assert np.array_equal(a.ind, b.ind, equal_nan=True)
    assert a.names == b.names == ("open", "high", "low", "close", "volume", "sma(5)", "sma(13)", "sma(60)",
                                  "sma(200)", "ema(21)")
    np.testing.assert_array_equal(a.ind[3], prices.close)


def test_build_when_many_deferred_rows_then_they_run_on_the_pool_iff_numba_has_threads(prices, monkeypatch):
    seen: set[str] = set()

    def row(w):
        seen.add(threading.current_thread().name)
        return sma_nb(prices.close, w)

    tab = IndicatorTable(prices)
    monkeypatch.setattr(IndicatorTable, "PARALLEL_MIN_BARS", 0)
    idx = [tab.row(("sma", w), row, w) for w in range(2, 12)]
    ind = tab.build([idx], [[]]).ind
    for k, w in enumerate(range(2, 12)):
        assert np.array_equal(ind[idx[k]], sma_nb(prices.close, w), equal_nan=True)
    pooled = {s.startswith("peaktrade-rows") for s in seen}
    assert pooled == ({True} if numba.get_num_threads() > 1 else {False})


def test_build_when_a_deferred_row_has_the_wrong_shape_then_raises_naming_the_key(prices):
    tab = IndicatorTable(prices)
    tab.row(("bad", 3), lambda k: np.zeros(k), 3)
    with pytest.raises(ValueError, match=r"indicator \('bad', 3\) has shape \(3,\), expected \(20000,\)"):
        tab.build([[5]], [[]])
