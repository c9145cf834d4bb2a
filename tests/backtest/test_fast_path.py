"""The sweep's fast path (prefix sums and range queries between signals) against the per-bar path.

Every stat and every per-part return sum of a combination that takes the fast path must equal what
the per-bar kernel gives for the same signals and options (1e-9 relative), on random bars with and
without gaps, random options and the edge cases: a signal on the first or last bar, no trades,
consecutive entries, entries that fail, ruin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars
from numba import njit

from peaktrade.backtest import ALL_STAT_KEYS, from_signals, nb, run, sweep
from peaktrade.backtest.enums import STAT_KEYS
from peaktrade.backtest.options import BacktestOptions
from peaktrade.backtest.stats import annualization, close_days
from peaktrade.strategies.base import SIGNAL_SIG, prices_from_bars

RTOL = 1e-9


@njit(SIGNAL_SIG, cache=True)
def _given_signals_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    """Signals stored as rows of ``ind`` (1.0 = signal): any entry/exit pattern through the sweep kernel."""
    for t in range(t0, t1):
        entries[t - t0] = ind[cols[0], t] > 0.5
        exits[t - t0] = ind[cols[1], t] > 0.5


def _kernel(bars, signals, options, *, fast, n_parts=5, block=64, groups=2):
    """Return (stats, part sums) of ``sweep_nb`` for each (entries, exits) in ``signals`` with the
    matching options; ``fast=False`` withholds the tables, so every combination runs bar by bar.
    ``groups``: the fast path's groups (combinations dealt round-robin, each group walking the bars
    block by block through all its combinations)."""
    prices = prices_from_bars(bars.assign(volume=bars.get("volume", 0.0)))
    rows = [prices.open, prices.high, prices.low, prices.close, prices.volume]
    for e, x in signals:
        rows += [e.astype(np.float64), x.astype(np.float64)]
    ind = np.ascontiguousarray(np.vstack(rows))
    m = len(signals)
    cols = np.ascontiguousarray(np.array([[5 + 2 * k, 6 + 2 * k] for k in range(m)], dtype=np.int64))
    fpar = np.zeros((m, 1))
    opts = [BacktestOptions.parse(**o) for o in options]
    spar = np.ascontiguousarray(np.vstack([o.kernel_params() for o in opts]))
    tm = close_days(bars.index)
    ann, years, _ = annualization(bars.index)
    n = len(bars)
    bounds = np.linspace(0, n, n_parts + 1).astype(np.int64)
    out = np.full((m, len(STAT_KEYS)), np.nan)
    parts = np.zeros((m, n_parts, 2))
    if fast:
        assert all(nb.fast_path_ok_nb(sp) for sp in spar)
        tables = nb.hold_tables_nb(prices.close)
    else:
        tables = (np.zeros((0, nb.PRE_ROWS)), np.zeros((2, 0)))
    nb.sweep_nb(_given_signals_nb, ind, cols, fpar, 1, spar, np.zeros(1), tm, ann, years, block, groups, bounds, parts,
                out, *tables)
    return out, parts


def _assert_same(fast, slow, what):
    (o_f, p_f), (o_s, p_s) = fast, slow
    for k in range(o_f.shape[0]):
        bad = {key: (a, b) for key, a, b in zip(STAT_KEYS, o_f[k], o_s[k])
               if not (a == pytest.approx(b, rel=RTOL, abs=0.0, nan_ok=True))}
        assert not bad, f"{what}, combination {k}: fast path vs per-bar (fast, per-bar): {bad}"
    # a part's return sum is a difference of prefix sums: exact to ~1e-16 of the sums' scale
    np.testing.assert_allclose(p_f, p_s, rtol=RTOL, atol=1e-13, err_msg=what)


def _random_options(rng):
    o = {"execution": str(rng.choice(["close", "next_open"])), "fees": float(rng.choice([0.0, 0.001, 0.0026, 0.01])),
         "slippage": float(rng.choice([0.0, 0.0005, 0.003])), "init_cash": float(rng.choice([100.0, 10_000.0]))}
    if rng.random() < 0.3:  # a fixed fee near the account's size: entries that fail, closes that ruin
        o["fixed_fees"] = float(o["init_cash"] * rng.uniform(0.3, 0.5))
    return o


def _random_case(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 400))
    bars = random_bars(n, seed=seed, vol=float(rng.choice([0.005, 0.02, 0.05])), drift=float(rng.normal(0, 0.002)))
    if rng.random() < 0.5:  # gaps in the index: durations and annualization in calendar time
        keep = rng.random(n) < 0.75
        keep[0] = keep[-1] = True
        bars = bars[keep]
        n = len(bars)
    signals, options = [], []
    for _ in range(int(rng.integers(2, 6))):
        density = rng.uniform(0.01, 0.4)
        e, x = rng.random(n) < density, rng.random(n) < density
        if rng.random() < 0.3:
            e[0] = True
        if rng.random() < 0.3:
            e[-1] = True
        if rng.random() < 0.3:
            x[-1] = True
        signals.append((e, x))
        options.append(_random_options(rng))
    return bars, signals, options


@pytest.mark.parametrize("seed", range(0, 200, 25))
def test_fast_path_equals_per_bar_when_random_bars_signals_and_options(seed):
    ruined = 0
    for s in range(seed, seed + 25):
        bars, signals, options = _random_case(s)
        slow = _kernel(bars, signals, options, fast=False)
        # one group or several; blocks of whole signal words, or not (a block's last word is partly past it)
        fast = _kernel(bars, signals, options, fast=True, groups=1 + s % 4, block=(64, 13, 1024)[s % 3])
        _assert_same(fast, slow, f"seed {s}")
        ruined += int(np.nansum(fast[0][:, STAT_KEYS.index("ruined")]))
    assert ruined > 0, "no case ruined an account: the ruin branch of the fast path went untested"


def test_fast_path_equals_per_bar_when_long_holds_pass_over_blocks_under_the_peak():
    """Long holding periods: the drawdown scan passes over whole blocks that stay under the running peak.
    Plateaus at exactly the peak (ties), recoveries to exactly the peak on and off block boundaries,
    stretches under water spanning many blocks, and random walks with a few long trades."""
    steps = [np.linspace(100, 120, 37), np.full(40, 120.0), np.linspace(119, 90, 61), np.linspace(91, 120, 32),
             np.linspace(119.5, 80, 100), np.full(16, 120.0), np.linspace(121, 60, 150), np.linspace(61, 130, 77)]
    close = np.concatenate(steps)
    n = len(close)
    cases = [random_bars(n, close=close)] + [random_bars(2500, seed=s, vol=0.01, drift=d)
                                              for s, d in ((1, 0.0), (2, 0.0005), (3, -0.0005))]
    for k, bars in enumerate(cases):
        m = len(bars)
        rng = np.random.default_rng(k)
        signals = [(np.eye(1, m, 0, dtype=bool)[0], np.zeros(m, dtype=bool)),  # held from the first bar to the end
                   (rng.random(m) < 0.004, rng.random(m) < 0.004),  # a few long trades
                   (np.isin(np.arange(m), [1, 17, 200]), np.isin(np.arange(m), [150, 400]))]
        options = [{"execution": "close", "fees": 0.001}, {"execution": "next_open", "fees": 0.0026},
                   {"execution": "close", "fees": 0.0}]
        _assert_same(_kernel(bars, signals, options, fast=True, block=1024),
                     _kernel(bars, signals, options, fast=False, block=1024), f"case {k}")


@pytest.mark.parametrize("execution", ["close", "next_open"])
def test_fast_path_equals_per_bar_when_edge_cases(execution):
    bars = random_bars(120, seed=4, vol=0.02)
    n = len(bars)
    z = np.zeros(n, dtype=bool)

    def at(*idx):
        s = z.copy()
        s[list(idx)] = True
        return s

    cases = {
        "no signals": (z, z),
        "entry on the first bar, held to the end": (at(0), z),
        "entry on the last bar": (at(n - 1), z),
        "exit on the last bar": (at(3), at(n - 1)),
        "every bar an entry": (~z, z),
        "entry and exit on every bar (conflicts)": (~z, ~z),
        "alternating entry / exit": (np.arange(n) % 2 == 0, np.arange(n) % 2 == 1),
        "exit before any entry": (at(50), at(10, 60)),
        "entry on the bar before the last": (at(n - 2), at(n - 1)),
    }
    kw = {"execution": execution, "fees": 0.0026, "slippage": 0.001, "init_cash": 10_000.0}
    signals = list(cases.values())
    fast = _kernel(bars, signals, [kw] * len(signals), fast=True)
    _assert_same(fast, _kernel(bars, signals, [kw] * len(signals), fast=False), execution)
    for k, (name, (e, x)) in enumerate(cases.items()):  # and each equals from_signals' stats
        one = from_signals(bars["close"], e, x, open=bars["open"], high=bars["high"], low=bars["low"], **kw).stats()
        np.testing.assert_allclose(fast[0][k], one[list(STAT_KEYS)].to_numpy(float), rtol=RTOL, equal_nan=True,
                                   err_msg=name)


def test_fast_path_ruins_like_per_bar_when_close_leaves_no_cash():
    # a falling market and a fixed fee of 45 % of the account: the first losing close leaves cash <= 0
    close = 100.0 * np.cumprod(np.r_[1.0, np.full(59, 0.98)])
    bars = random_bars(60, close=close, seed=1)
    e = np.zeros(60, dtype=bool)
    x = np.zeros(60, dtype=bool)
    e[[2, 30]] = True
    x[[20, 40]] = True
    kw = {"execution": "close", "fees": 0.001, "fixed_fees": 45.0, "init_cash": 100.0}
    fast = _kernel(bars, [(e, x)], [kw], fast=True)
    _assert_same(fast, _kernel(bars, [(e, x)], [kw], fast=False), "ruin")
    stats = dict(zip(STAT_KEYS, fast[0][0]))
    assert stats["ruined"] == 1.0 and stats["final_equity"] == 0.0 and stats["n_trades"] == 1.0
    assert stats["ruin_time"] == pytest.approx(close_days(bars.index)[20] - close_days(bars.index)[0])


def test_fast_path_refused_when_equity_not_proportional_to_price():
    base = {"execution": "close", "fees": 0.001}
    assert nb.fast_path_ok_nb(BacktestOptions.parse(**base).kernel_params())
    for extra in ({"size": 0.5}, {"direction": "short"}, {"direction": "both"}, {"sl_stop": 0.02},
                  {"tp_stop": 0.05}, {"sl_trail": 0.03}, {"size_type": "value", "size": 100.0},
                  {"size_type": "vol_target", "size": 0.5}):
        assert not nb.fast_path_ok_nb(BacktestOptions.parse(**base, **extra).kernel_params()), extra


def test_sweep_rows_equal_run_when_fast_and_per_bar_combinations_mixed():
    b = random_bars(1500, seed=8, vol=0.015)
    keep = np.random.default_rng(8).random(len(b)) < 0.85
    keep[0] = keep[-1] = True
    b = b[keep]  # with gaps
    grid = dict(fast=[3, 7], slow=[20, 45], sl_stop=[None, 0.03])  # no stop: fast path; a stop: bar by bar
    kw = dict(fees=0.0026, slippage=0.0005, execution="next_open")
    res = sweep("ma_crossover", b, progress=False, n_parts=7, **kw, **grid)
    for i, row in res.table.iterrows():
        p = {"fast": int(row["fast"]), "slow": int(row["slow"]),
             "sl_stop": None if pd.isna(row["sl_stop"]) else float(row["sl_stop"])}
        one = run("ma_crossover", b, **kw, **p)
        np.testing.assert_allclose(row[list(ALL_STAT_KEYS)].to_numpy(float), one.stats().to_numpy(float),
                                   rtol=RTOL, equal_nan=True, err_msg=str(p))
        r = one.returns.to_numpy()
        edges = np.r_[0, np.cumsum(res.part_bars)]
        sums = [[r[edges[j]:edges[j + 1]].sum(), (r[edges[j]:edges[j + 1]] ** 2).sum()] for j in range(7)]
        np.testing.assert_allclose(res.part_sums[i], sums, rtol=RTOL, atol=1e-13, err_msg=str(p))


@pytest.mark.parametrize("kind", ["exact_ties", "near_ties_and_inf"])
def test_crossover_signals_equal_plain_loop_when_chunks_skipped(kind):
    """ma_crossover's signal kernel steps only the bars whose relation of the MAs may change (from 64-bar
    relation masks); its signals must be those of stepping the cross detector on every bar (exact ties,
    ties within the tolerance, NaN runs, infinite values, any block split)."""
    from peaktrade.strategies.ma_crossover import STRATEGY, TIE_RTOL, cross_update_nb

    rng = np.random.default_rng(3)
    n = 3000
    t = np.arange(n)
    fast = np.round(3 * np.sin(t / 40) + 0.3 * rng.normal(0, 1, n))  # rounded: ties; long runs between crosses
    slow = np.round(3 * np.sin(t / 55))
    fast[rng.random(n) < 0.01] = np.nan
    slow[100:140] = np.nan
    if kind == "near_ties_and_inf":
        fast, slow = fast + 100.0, slow + 100.0
        # differences around the tie tolerance (TIE_RTOL of the larger magnitude): ties and non-ties
        near = rng.random(n) < 0.2
        fast[near] = slow[near] * (1.0 + rng.choice([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0], near.sum()) * TIE_RTOL)
        fast[rng.random(n) < 0.005] = np.inf
        slow[rng.random(n) < 0.005] = -np.inf
        slow[2000:2010] = np.inf
    ind = np.ascontiguousarray(np.vstack([np.ones((5, n)), fast, slow]))
    want_e, want_x = np.zeros(n, bool), np.zeros(n, bool)
    st = (False,) * 4
    for k in range(n):
        want_e[k], want_x[k], *st = cross_update_nb(fast[k], slow[k], *st)
    assert want_e.sum() > 20 and want_x.sum() > 20
    for split in ([0, n], [0, 1, 2, 17, 18, 1000, 1001, 2999, n], [0, 63, 64, 129, 1000, 1064, n],
                  list(range(0, n, 37)) + [n]):
        got_e, got_x = np.zeros(n, bool), np.zeros(n, bool)
        state = np.zeros(4)
        for t0, t1 in zip(split[:-1], split[1:]):
            e, x = np.ones(t1 - t0, bool), np.ones(t1 - t0, bool)  # stale values must be overwritten
            STRATEGY.signal_nb(ind, np.array([5, 6]), np.zeros(1), state, t0, t1, e, x)
            got_e[t0:t1], got_x[t0:t1] = e, x
        np.testing.assert_array_equal(got_e, want_e, err_msg=str(split[:5]))
        np.testing.assert_array_equal(got_x, want_x, err_msg=str(split[:5]))
