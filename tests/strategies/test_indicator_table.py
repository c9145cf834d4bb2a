"""IndicatorTable's deferred rows (issue 14, item 1): ``row(key, fn, *args)`` is computed in ``build``,
straight into the table and on a thread pool when there is enough work, with the same values as eager rows;
``rows(keys, fn, *args)`` defers a batch of rows one call computes (e.g. ``sma_rows_nb``), in bar ranges."""

from __future__ import annotations

import threading

import numba
import numpy as np
import pytest

from peaktrade.indicators.nb import ema_nb, sma_nb, sma_rows_nb
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


# ------------------------------------------------------------------ batches: rows(keys, fn, *args)


def _sma_rows(x, windows, out, start, stop):
    """sma_rows_nb with a plain list of windows (what a strategy has at hand)."""
    sma_rows_nb(x, np.asarray(windows, dtype=np.int64), out, start, stop)


def test_rows_when_a_batch_is_deferred_then_its_rows_land_where_row_would_put_them_with_their_names(prices):
    windows = [5, 13, 60, 200]
    batch, eager = IndicatorTable(prices), IndicatorTable(prices)
    got = [batch.row(("ema", 21), ema_nb, prices.close, 21)]
    got += batch.rows([("sma", w) for w in windows], _sma_rows, prices.close, windows)
    got += [batch.row(("roc", 1), lambda: np.full(prices.n, 1.5))]
    want = [eager.row(("ema", 21), ema_nb, prices.close, 21)]
    want += [eager.row(("sma", w), sma_nb, prices.close, w) for w in windows]
    want += [eager.row(("roc", 1), lambda: np.full(prices.n, 1.5))]
    assert got == want == [5, 6, 7, 8, 9, 10]
    a, b = batch.build([got], [[]]), eager.build([want], [[]])
    assert a.ind.flags.c_contiguous and a.ind.shape == (11, prices.n)
    assert np.array_equal(a.ind, b.ind, equal_nan=True)
    assert a.names == b.names == ("open", "high", "low", "close", "volume", "ema(21)", "sma(5)", "sma(13)", "sma(60)",
                                  "sma(200)", "roc(1)")
    assert batch.row(("sma", 13), sma_nb, prices.close, 13) == 7  # a batch's key is known to row()
    named = IndicatorTable(prices)
    assert named.rows([("s", 1), ("s", 2)], _sma_rows, prices.close, [1, 2], names=["one", "two"]) == [5, 6]
    assert named.build([[5, 6]], [[]]).names[5:] == ("one", "two")


def test_rows_when_keys_are_already_in_the_table_then_they_keep_their_first_row(prices):
    tab = IndicatorTable(prices)
    first = tab.row(("sma", 13), lambda: np.zeros(prices.n))  # not an SMA: shows which row a key refers to
    idx = tab.rows([("sma", 5), ("sma", 13), ("sma", 60)], _sma_rows, prices.close, [5, 13, 60])
    again = tab.rows([("sma", 60), ("sma", 200)], _sma_rows, prices.close, [60, 200])
    assert first == 5 and idx == [6, 5, 8] and again == [8, 10]
    ind = tab.build([idx + again], [[]]).ind
    assert (ind[5] == 0.0).all()  # the key's first row; the batch's own row for it (7) is computed, unused
    assert np.array_equal(ind[7], sma_nb(prices.close, 13), equal_nan=True)
    for r, w in ((6, 5), (8, 60), (10, 200)):
        assert np.array_equal(ind[r], sma_nb(prices.close, w), equal_nan=True)
    assert tab.rows([], _sma_rows, prices.close, []) == []


def test_build_when_a_batch_is_large_then_its_bar_ranges_run_on_the_pool_and_cover_every_bar(prices, monkeypatch):
    seen: list[tuple[str, int, int]] = []

    def rows(windows, out, start, stop):
        seen.append((threading.current_thread().name, start, stop))
        _sma_rows(prices.close, windows, out, start, stop)

    monkeypatch.setattr(IndicatorTable, "PARALLEL_MIN_BARS", 0)
    tab = IndicatorTable(prices)
    windows = [2, 7, 30, 31, 100]
    idx = tab.rows([("sma", w) for w in windows], rows, windows)
    ind = tab.build([idx], [[]]).ind
    for r, w in zip(idx, windows):
        assert np.array_equal(ind[r], sma_nb(prices.close, w), equal_nan=True)
    spans = sorted((a, b) for _, a, b in seen)
    assert spans[0][0] == 0 and spans[-1][1] == prices.n and all(p[1] == q[0] for p, q in zip(spans, spans[1:]))
    pooled = {name.startswith("peaktrade-rows") for name, _, _ in seen}
    assert pooled == ({True} if numba.get_num_threads() > 1 else {False})


def test_build_when_a_batch_does_not_fit_its_rows_then_raises_naming_the_keys_and_the_shape(prices):
    tab = IndicatorTable(prices)
    tab.rows([("sma", 5), ("sma", 6)], _sma_rows, prices.close, [5, 6, 7])  # three windows for two rows
    with pytest.raises(ValueError, match=r"indicator rows \[\('sma', 5\), \('sma', 6\)\] into out of shape "
                                         r"\(2, 20000\): sma_rows_nb: out must have shape"):
        tab.build([[5]], [[]])
    tab = IndicatorTable(prices)
    tab.rows([("x", 1)], lambda out, start, stop: np.zeros((1, prices.n)))  # returns its rows instead
    with pytest.raises(ValueError, match=r"indicator rows \[\('x', 1\)\]: fn must write them into out "
                                         r"\(shape \(1, 20000\)\) and return None, it returned ndarray"):
        tab.build([[5]], [[]])
    with pytest.raises(ValueError, match=r"indicator rows \[\('x', 1\), \('x', 2\)\]: got 1 names, expected 2"):
        IndicatorTable(prices).rows([("x", 1), ("x", 2)], _sma_rows, names=["a"])


def test_ma_crossover_prepare_when_sma_and_ema_combos_then_one_sma_batch_and_rows_equal_to_per_row_kernels(prices):
    from peaktrade.strategies import ma_crossover

    combos = [{"fast": f, "slow": s, "kind": k} for k in ("sma", "ema") for f in (5, 13) for s in (60, 13 * 10)]
    combos.append({"fast": 60, "slow": 200, "kind": "sma"})  # a window that is another combo's slow
    prep = ma_crossover.prepare(prices, combos)
    sma = ("sma(5)", "sma(13)", "sma(60)", "sma(130)", "sma(200)")
    assert prep.names[5:10] == sma  # the batch: sorted windows, consecutive rows
    assert sorted(prep.names[10:]) == ["ema(13)", "ema(130)", "ema(5)", "ema(60)"]
    for c, (fast, slow) in zip(combos, prep.cols):
        for r, w in ((fast, c["fast"]), (slow, c["slow"])):
            assert prep.names[r] == f"{c['kind']}({w})"
            want = (sma_nb if c["kind"] == "sma" else ema_nb)(prices.close, w)
            assert np.array_equal(prep.ind[r], want, equal_nan=True)
