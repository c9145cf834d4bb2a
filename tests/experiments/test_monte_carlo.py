"""Monte Carlo resampling (i.i.d., moving-block, trade shuffle) and cost sensitivity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars

from peaktrade.backtest import ALL_STAT_KEYS, run
from peaktrade.data.kraken_csv import read_kraken_ohlcvt
from peaktrade.errors import BacktestError
from peaktrade.experiments import MonteCarloResult, cost_sensitivity, monte_carlo
from peaktrade.experiments.monte_carlo import _segment_draws, trade_returns, trade_segments


@pytest.fixture(scope="module")
def res():
    bars = random_bars(2000, seed=3)
    return run("ma_crossover", bars, fast=5, slow=30, fees=0.001)


def test_monte_carlo_when_same_seed_then_identical_and_other_seed_differs(res):
    for method in ("iid", "block", "trades"):
        a = monte_carlo(res, method=method, n_sims=200, seed=42)
        b = monte_carlo(res, method=method, n_sims=200, seed=42)
        c = monte_carlo(res, method=method, n_sims=200, seed=43)
        pd.testing.assert_frame_equal(a.distribution, b.distribution)
        pd.testing.assert_frame_equal(a.quantiles, b.quantiles)
        assert not a.distribution["max_drawdown"].equals(c.distribution["max_drawdown"])


def test_monte_carlo_when_iid_then_shapes_and_quantiles_are_ordered(res):
    mc = monte_carlo(res, method="iid", n_sims=300, seed=1, max_steps=2000)
    assert isinstance(mc, MonteCarloResult) and mc.method == "iid"
    d = mc.distribution
    assert len(d) == 300 and list(d.columns) == ["final_return", "max_drawdown", "sharpe", "final_equity"]
    assert (d["max_drawdown"] >= 0).all() and (d["max_drawdown"] < 1).all()
    q = mc.quantiles
    assert list(q.columns) == ["q05", "q25", "q50", "q75", "q95"] and q.index.name == "step"
    assert list(q.index) == list(range(2001))
    assert (q.loc[0] == 1.0).all()
    assert (q["q05"] <= q["q25"]).all() and (q["q25"] <= q["q50"]).all() and (q["q75"] <= q["q95"]).all()
    assert q.loc[2000, "q50"] - 1.0 == pytest.approx(d["final_return"].median(), rel=1e-9)
    s = mc.summary
    assert {"prob_loss", "final_return_q05", "final_return_q50", "final_return_q95", "max_drawdown_q50",
            "max_drawdown_q95", "sharpe_q05", "sharpe_q50", "sharpe_q95", "n_sims", "method"} <= set(s.index)
    assert s["n_sims"] == 300 and s["method"] == "iid"
    assert s["prob_loss"] == pytest.approx((d["final_return"] < 0).mean())
    assert d["final_equity"].iloc[0] == pytest.approx(res.init_cash * (1 + d["final_return"].iloc[0]))


def test_monte_carlo_when_iid_then_mean_log_growth_matches_the_observed(res):
    mc = monte_carlo(res, method="iid", n_sims=2000, seed=5)
    g = np.log1p(mc.distribution["final_return"].to_numpy())
    observed = np.log1p(res.stats()["total_return"])
    assert abs(g.mean() - observed) < 4 * g.std() / np.sqrt(len(g))


def test_monte_carlo_when_observed_path_then_matches_backtest_stats(res):
    s = monte_carlo(res, n_sims=10).summary
    st = res.stats()
    assert s["observed_final_return"] == pytest.approx(st["total_return"], rel=1e-9)
    assert s["observed_max_drawdown"] == pytest.approx(st["max_drawdown"], rel=1e-9)
    assert s["observed_sharpe"] == pytest.approx(st["sharpe"], rel=1e-9)


def test_monte_carlo_when_block_spans_all_returns_then_every_path_is_the_observed_one(res):
    mc = monte_carlo(res, method="block", block=len(res.equity), n_sims=20)
    assert np.allclose(mc.distribution["final_return"], res.stats()["total_return"], rtol=1e-12)
    assert mc.distribution["sharpe"].nunique() == 1


def test_monte_carlo_when_block_then_keeps_the_autocorrelation_iid_destroys():
    # AR(1) returns with phi = 0.5: the variance of a long sum is (1 + phi) / (1 - phi) = 3 times the
    # i.i.d. one; blocks much longer than the memory keep most of it, the i.i.d. bootstrap none
    rng = np.random.default_rng(0)
    n, phi = 4000, 0.5
    e = rng.normal(0, 0.001, n)
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    r = pd.Series(x, index=pd.date_range("2023", periods=n, freq="h", tz="UTC"))
    g_iid = np.log1p(monte_carlo(r, method="iid", n_sims=600, seed=0).distribution["final_return"])
    g_blk = np.log1p(monte_carlo(r, method="block", block=50, n_sims=600, seed=0).distribution["final_return"])
    ratio = g_blk.var() / g_iid.var()
    assert 2.0 < ratio < 4.0


def test_monte_carlo_when_trade_shuffle_then_final_return_is_the_backtests_and_drawdown_varies(res):
    # trade segments of bar returns are permuted: the product (final return) and the Sharpe ratio do
    # not depend on the order, the drawdown does; the open trade is part of the path
    mc = monte_carlo(res, method="trades", n_sims=300, seed=0)
    d = mc.distribution
    st = res.stats()
    assert np.allclose(d["final_return"], st["total_return"], rtol=1e-9)
    assert np.allclose(d["sharpe"], st["sharpe"], rtol=1e-9)
    assert d["max_drawdown"].nunique() > 50
    assert mc.quantiles.index[-1] == len(res.equity)


def test_trade_segments_when_permuted_then_each_trade_keeps_its_bars_in_order(res):
    seg = trade_segments(res)
    assert seg[0] == 0 and (np.diff(seg) > 0).all()
    assert set(res.trades["entry_idx"]) <= set(seg.tolist())
    rng = np.random.default_rng(0)
    idx = _segment_draws(rng, 3, seg, len(res.equity), replace=False)
    for row in idx:
        assert sorted(row.tolist()) == list(range(len(res.equity)))
        # each segment appears whole, its bars in their order
        pos = np.argsort(row)
        for a, b in zip(seg, np.append(seg[1:], len(row))):
            np.testing.assert_array_equal(row[pos[a]:pos[a] + (b - a)], np.arange(a, b))
    assert not np.array_equal(idx[0], idx[1])


def test_monte_carlo_when_trade_bootstrap_then_final_return_varies(res):
    d = monte_carlo(res, method="trades_bootstrap", n_sims=200, seed=0).distribution
    assert d["final_return"].nunique() > 100


def test_trade_returns_when_compounded_in_order_then_give_the_closed_trades_equity(res):
    g = trade_returns(res)
    closed = res.trades[~res.trades["is_open"]]
    assert len(g) == len(closed)
    assert res.init_cash * np.prod(1.0 + g) == pytest.approx(res.init_cash + closed["pnl"].sum(), rel=1e-12)


@pytest.mark.parametrize("method", ["trades", "trades_bootstrap", "iid", "block"])
def test_monte_carlo_when_real_btc_backtest_with_open_trade_then_observed_equals_the_backtest(shared_data, method):
    bars = read_kraken_ohlcvt(shared_data / "XBTUSD_60.csv.gz", symbol="BTC/USD", timeframe="1h")
    res = run("ma_crossover", bars, fees=0.001)
    assert res.trades["is_open"].iloc[-1], "the default crossover on BTC ends in an open trade"
    st = res.stats()
    mc = monte_carlo(res, method=method, n_sims=20, seed=0)
    s = mc.summary
    assert s["observed_final_return"] == st["total_return"]
    assert s["observed_max_drawdown"] == st["max_drawdown"]
    assert s["observed_sharpe"] == st["sharpe"]
    # and the distribution is on the same footing: an unshuffled path reproduces the backtest
    one = monte_carlo(res, method="block", block=len(res.equity), n_sims=1).distribution.iloc[0]
    assert one["final_return"] == pytest.approx(st["total_return"], rel=1e-9)
    assert one["max_drawdown"] == pytest.approx(st["max_drawdown"], rel=1e-9)
    if method == "trades":
        assert np.allclose(mc.distribution["final_return"], st["total_return"], rtol=1e-9)
        assert mc.summary["max_drawdown_q50"] < st["max_drawdown"] * 2


def test_monte_carlo_when_returns_series_then_uses_its_bar_interval():
    rng = np.random.default_rng(2)
    idx = pd.date_range("2023", periods=1000, freq="D", tz="UTC")
    r = pd.Series(rng.normal(0.001, 0.02, 1000), index=idx)
    s = monte_carlo(r, n_sims=50).summary
    assert s["observed_sharpe"] == pytest.approx(r.mean() / r.std() * np.sqrt(365), rel=1e-9)


def test_monte_carlo_when_many_steps_then_quantiles_are_thinned_keeping_the_last(res):
    q = monte_carlo(res, n_sims=20, max_steps=100).quantiles
    assert len(q) == 101 and q.index[0] == 0 and q.index[-1] == 2000


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"method": "bayes"}, ["method='bayes'"]),
        ({"n_sims": 0}, ["n_sims=0"]),
        ({"method": "block", "block": 5000}, ["block=5000"]),
        ({"init_cash": -1.0}, ["init_cash=-1.0"]),
    ],
)
def test_monte_carlo_when_options_are_invalid_then_error_names_them(res, kw, words):
    with pytest.raises(BacktestError) as exc:
        monte_carlo(res, **kw)
    for w in words:
        assert w in str(exc.value)


def test_monte_carlo_when_trades_asked_of_a_returns_series_then_error(res):
    with pytest.raises(BacktestError, match="method='trades' needs a BacktestResult"):
        monte_carlo(res.returns, method="trades")
    with pytest.raises(BacktestError, match="DatetimeIndex"):
        monte_carlo(pd.Series([0.01, -0.02, 0.0]))


def test_cost_sensitivity_when_levels_then_one_row_each_and_costs_hurt():
    bars = random_bars(1500, seed=4)
    df = cost_sensitivity("ma_crossover", bars, fees=[0.0, 0.001, 0.0026], slippage=[0.0, 0.001], fast=5, slow=30)
    assert len(df) == 6 and list(df.columns) == ["fees", "slippage", *ALL_STAT_KEYS]
    base = run("ma_crossover", bars, fast=5, slow=30, fees=0.0, slippage=0.0).stats()  # explicit: no costs
    row = df[(df["fees"] == 0.0) & (df["slippage"] == 0.0)].iloc[0]
    assert row["total_return"] == pytest.approx(base["total_return"], rel=1e-12)
    no_slip = df[df["slippage"] == 0.0]["final_equity"].to_numpy()
    assert (np.diff(no_slip) < 0).all()
    with pytest.raises(BacktestError, match="fees="):
        cost_sensitivity("ma_crossover", bars, fees="high")



@pytest.mark.parametrize("method", ["iid", "block", "trades", "trades_bootstrap"])
def test_monte_carlo_when_backtest_ruined_then_observed_is_the_ruin_and_ruined_paths_stay_at_zero(method):
    from experiment_helpers import squeeze_bars

    bars = squeeze_bars(1200, seed=3)
    res = run("bollinger_reversion", bars, direction="both", fees=0.001, window=20, k=1.0)
    assert res.ruin_time is not None, "the squeeze must ruin this backtest"
    mc = monte_carlo(res, method=method, n_sims=300, seed=1)
    s = mc.summary
    st = res.stats()
    assert s["observed_final_return"] == -1.0 == st["total_return"]
    assert s["observed_max_drawdown"] == 1.0
    assert s["observed_sharpe"] == st["sharpe"]
    # the path up to the ruin bar only: no NaN return after it is drawn
    assert s["n_steps"] == res.equity.index.get_loc(res.ruin_time) + 1
    d = mc.distribution
    assert np.isfinite(d["final_return"]).all() and (d["final_return"] >= -1.0).all()
    ruined = d["final_return"] == -1.0
    assert ruined.any()
    assert (d.loc[ruined, "max_drawdown"] == 1.0).all()
    assert (mc.quantiles.to_numpy() >= 0.0).all()
