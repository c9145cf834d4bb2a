"""run_portfolio on small synthetic sets: shared cash, sleeves, alignment, schedules, allocators, costs, ruin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars

from peaktrade.backtest import ALL_STAT_KEYS
from peaktrade.errors import BacktestError
from peaktrade.portfolio import PORTFOLIO_KEYS, align_bars, calendar_mask, run_portfolio
from peaktrade.portfolio.lookahead import allocation_lookahead_check

CLOSE = {"fees": 0.001, "slippage": 0.0, "execution": "close", "init_cash": 10_000.0}


def test_run_portfolio_when_shared_cash_then_equity_is_cash_plus_positions_at_carried_closes(three_assets):
    bars = three_assets()
    res = run_portfolio(bars, alloc="equal", rebalance="1D", **CLOSE)
    close = pd.DataFrame({s: b["close"] for s, b in bars.items()}).reindex(res.index).ffill().fillna(0.0)
    np.testing.assert_allclose(res.equity, res.cash + (res.positions * close).sum(axis=1), rtol=1e-12)
    assert (res.cash >= 0).all()  # residual cash kept, never borrowed
    # the trades' pnl (closed and open parts) adds up to the total return, fees included
    assert res.contribution().sum() == pytest.approx(res.equity.iloc[-1] / 10_000.0 - 1.0, rel=1e-9)
    assert res.contribution_path().iloc[-1].sum() == pytest.approx(res.equity.iloc[-1] / 10_000.0 - 1.0, rel=1e-9)
    st = res.stats()
    assert list(st.index) == [*ALL_STAT_KEYS, *PORTFOLIO_KEYS]
    assert st["total_fees"] == pytest.approx(res.orders["fees"].sum(), rel=1e-9)
    assert st["turnover"] > 0 and -1 <= st["avg_correlation"] <= 1


def test_rebalance_when_weights_drifted_then_sells_fill_before_buys_at_one_price(three_assets):
    res = run_portfolio(three_assets(gaps=False), alloc="equal", rebalance="1D", **CLOSE)
    bars_with_both = 0
    for _, o in res.orders.groupby("idx"):
        sides = o["side"].tolist()
        if "sell" in sides and "buy" in sides:
            bars_with_both += 1
            assert sides.index("buy") > max(i for i, s in enumerate(sides) if s == "sell")
    assert bars_with_both > 5


def test_target_weights_when_rebalanced_then_are_fractions_of_portfolio_value():
    """A doubling asset with 50/50 targets: after the rebalance each holds half the value (vectorbt's
    percent-of-remaining-cash caveat would leave the second buy short)."""
    idx = pd.date_range("2024-01-01", periods=4, freq="1D", tz="UTC")
    a = random_bars(times=idx, close=[100.0, 200.0, 200.0, 200.0])
    b = random_bars(times=idx, close=[50.0, 50.0, 50.0, 50.0])
    res = run_portfolio({"A": a, "B": b}, alloc="fixed", weights={"A": 0.5, "B": 0.5}, rebalance="1D",
                        fees=0.0, slippage=0.0, execution="close", init_cash=1000.0)
    np.testing.assert_allclose(res.weights.iloc[1], [0.5, 0.5], rtol=1e-12)
    assert res.equity.iloc[1] == pytest.approx(1500.0)


def test_align_bars_when_a_symbol_misses_bars_then_it_is_valued_at_its_last_close_and_never_traded(three_assets):
    bars = three_assets()
    res = run_portfolio(bars, alloc="equal", rebalance="1D", **CLOSE)
    al = align_bars(bars)
    assert len(al.index) == 600  # the union
    missing = ~al.present[:, 2]
    assert missing.sum() == 60
    traded_c = res.orders.loc[res.orders["symbol"] == "C", "idx"].to_numpy()
    assert not missing[traded_c].any()
    # before C is listed it has no weight and no value
    assert np.isnan(res.target_weights["C"].iloc[:50]).all() and (res.positions["C"].iloc[:50] == 0).all()
    gap = np.flatnonzero(missing[50:])[0] + 50
    assert res.close["C"].iloc[gap] == bars["C"]["close"].loc[:al.index[gap]].iloc[-1]


def test_calendar_mask_when_weekly_then_first_bar_at_or_after_monday_midnight_utc():
    # 4h bars from Saturday; the bars of Monday 00:00-08:00 are missing in the second week
    idx = pd.date_range("2024-01-06", periods=6 * 14, freq="4h", tz="UTC")
    idx = idx[~((idx >= "2024-01-15 00:00") & (idx < "2024-01-15 08:00"))]
    got = idx[calendar_mask(idx, "1W")]
    assert list(got) == [pd.Timestamp("2024-01-06", tz="UTC"), pd.Timestamp("2024-01-08", tz="UTC"),
                         pd.Timestamp("2024-01-15 08:00", tz="UTC")]
    months = pd.date_range("2024-01-30", periods=5, freq="1D", tz="UTC")
    assert list(months[calendar_mask(months, "1M")].day) == [30, 1]


def test_rebalance_when_drift_then_trades_only_when_a_weight_leaves_the_band(three_assets):
    bars = three_assets(gaps=False)
    res = run_portfolio(bars, alloc="equal", rebalance="drift", drift=0.02, **CLOSE)
    traded = np.unique(res.orders["idx"].to_numpy())
    assert 1 < len(traded) < 100
    tw = res.target_weights.to_numpy()
    for t in traded[1:]:
        # at the bar of the trade (valued before orders at that close) a weight had left the band
        pre = res.positions.iloc[t - 1].to_numpy() * res.close.iloc[t].to_numpy()
        val = res.cash.iloc[t - 1] + pre.sum()
        assert np.abs(pre / val - tw[t]).max() > 0.02


def test_min_size_when_order_below_it_then_skipped_and_counted(three_assets):
    bars = three_assets(gaps=False)
    free = run_portfolio(bars, alloc="equal", rebalance="1D", **CLOSE)
    units = free.orders["size"]
    cut = float(units.quantile(0.5))
    res = run_portfolio(bars, alloc="equal", rebalance="1D", min_size=cut, **CLOSE)
    assert res.skipped["min_size"] > 0
    assert (res.orders["size"] >= cut * (1 - 1e-9)).all()


def test_slippage_and_fees_when_set_then_fills_pay_them():
    bars = {s: random_bars(200, seed=i) for i, s in enumerate("AB")}
    res = run_portfolio(bars, alloc="equal", rebalance="1D", fees=0.002, slippage=0.001, execution="close",
                        init_cash=1000.0)
    o = res.orders
    close = pd.DataFrame({s: b["close"] for s, b in bars.items()})
    ref = close.to_numpy()[o["idx"].to_numpy(), [list(bars).index(s) for s in o["symbol"]]]
    np.testing.assert_allclose(o["price"], np.where(o["side"] == "buy", ref * 1.001, ref * 0.999), rtol=1e-12)
    np.testing.assert_allclose(o["fees"], o["notional"] * 0.002, rtol=1e-12)


def test_sleeves_when_independent_then_each_sleeve_equals_its_own_single_asset_portfolio():
    bars = {s: random_bars(300, seed=i + 7) for i, s in enumerate("AB")}
    res = run_portfolio(bars, alloc="fixed", weights={"A": 0.7, "B": 0.3}, rebalance="1D", mode="sleeves", **CLOSE)
    alone = run_portfolio({"A": bars["A"]}, alloc="fixed", weights={"A": 1.0}, rebalance="none",
                          **{**CLOSE, "init_cash": 7000.0})
    np.testing.assert_allclose(res.positions["A"], alone.positions["A"], rtol=1e-12)


def test_vol_target_when_realized_vol_is_low_then_exposure_capped_by_max_leverage():
    bars = {s: random_bars(400, seed=i, vol=0.0005) for i, s in enumerate("AB")}
    res = run_portfolio(bars, alloc="vol_target", target_vol=2.0, max_leverage=1.5, lookback=48, rebalance="1D",
                        **CLOSE)
    tw = res.target_weights.dropna()
    assert tw.sum(axis=1).max() == pytest.approx(1.5)
    assert res.cash.min() < 0  # the leverage is borrowed cash
    low = run_portfolio(bars, alloc="vol_target", target_vol=0.001, max_leverage=1.5, lookback=48, rebalance="1D",
                        **CLOSE)
    assert 0 < low.target_weights.iloc[100:].sum(axis=1).max() < 0.2


def test_ruin_when_leveraged_book_loses_everything_then_liquidated_and_stats_stop_there():
    idx = pd.date_range("2024-01-01", periods=60, freq="1D", tz="UTC")
    crash = np.r_[np.full(40, 100.0) * np.exp(np.linspace(0, 0.01, 40)), np.full(20, 30.0)]
    bars = {"A": random_bars(times=idx, close=crash), "B": random_bars(times=idx, close=crash * 2)}
    res = run_portfolio(bars, alloc="vol_target", target_vol=10.0, max_leverage=3.0, lookback=10, rebalance="1D",
                        **CLOSE)
    st = res.stats()
    assert st["ruined"] == 1.0 and res.ruin_time == idx[40]
    assert (res.equity.iloc[40:] == 0).all() and (res.positions.iloc[40:] == 0).all().all()
    assert (res.trades["exit_reason"] == "ruin").sum() == 2
    assert res.trades["pnl"].sum() == pytest.approx(-10_000.0)


def test_strategy_gate_when_out_of_position_then_asset_target_is_zero(three_assets):
    bars = three_assets(gaps=False)
    res = run_portfolio(bars, alloc="equal", rebalance="signal", strategy="ma_crossover", fast=5, slow=20, **CLOSE)
    tw = res.target_weights.to_numpy()
    assert set(np.unique(np.round(tw[25:], 12))) <= {0.0, round(1 / 3, 12)}
    assert (tw[25:] == 0).any() and (tw[25:] > 0).any()
    assert res.strategy == "ma_crossover" and res.params["fast"] == 5


@pytest.mark.parametrize("alloc", ["equal", "inverse_vol", "vol_target"])
def test_allocation_lookahead_check_when_library_allocators_then_passes(alloc, three_assets):
    rep = allocation_lookahead_check(three_assets(300), alloc=alloc, rebalance="1D", lookback=24)
    assert rep.ok, rep.message
    assert rep.checked > 10


def test_allocation_lookahead_check_when_skfolio_allocators_then_passes(three_assets):
    bars = three_assets(200)
    for alloc in ("erc", "hrp"):
        rep = allocation_lookahead_check(bars, alloc=alloc, rebalance="1D", lookback=24, n_checkpoints=4)
        assert rep.ok, rep.message
    res = run_portfolio(bars, alloc="erc", rebalance="1D", lookback=24, **CLOSE)
    w = res.target_weights.iloc[-1]
    assert w.sum() == pytest.approx(1.0) and (w > 0.1).all()


def test_allocation_lookahead_check_when_weights_read_the_current_bar_then_fails(monkeypatch, three_assets):
    from peaktrade.portfolio import alloc as alloc_mod
    from peaktrade.portfolio import engine

    real = alloc_mod.compute_weights

    def peeking(allocation, returns, listed, at, symbols, ann):  # the window ends at bar t, not t - 1
        return real(allocation, np.vstack([returns[1:], returns[-1:]]), listed, at, symbols, ann)

    monkeypatch.setattr(engine, "compute_weights", peeking)
    rep = allocation_lookahead_check(three_assets(300, gaps=False), alloc="inverse_vol", rebalance="1D", lookback=24)
    assert not rep.ok and "lookahead" in rep.message


@pytest.mark.parametrize(("kw", "needle"), [
    ({"alloc": "magic"}, "alloc='magic'"),
    ({"rebalance": "2W"}, "rebalance='2W'"),
    ({"alloc": "fixed", "weights": {"A": 0.8, "B": 0.8}}, "summing to at most 1"),
    ({"alloc": "fixed", "weights": {"Z": 0.5}}, "'Z'"),
    ({"mode": "pooled"}, "mode='pooled'"),
    ({"rebalance": "signal"}, "needs a gating strategy"),
    ({"fast": 3}, "unknown option(s) fast"),
    ({"min_size": -1.0}, "min_size"),
])
def test_run_portfolio_when_bad_input_then_error_names_it(kw, needle, three_assets):
    with pytest.raises(BacktestError) as ei:
        run_portfolio(three_assets(100, gaps=False), **{**CLOSE, **kw})
    assert needle in str(ei.value)


def test_align_bars_when_naive_index_then_error_asks_for_utc():
    b = random_bars(50)
    with pytest.raises(BacktestError, match="UTC"):
        align_bars({"A": b.tz_localize(None)})


def test_sweep_weights_when_many_fixed_weights_then_each_row_equals_its_run_portfolio(three_assets):
    from peaktrade.portfolio.sweep import sweep_weights

    bars = three_assets(400)
    w = np.random.default_rng(3).dirichlet(np.ones(3), 6) * 0.9
    table = sweep_weights(bars, w, rebalance="1D", **CLOSE)
    assert list(table.columns[:3]) == ["w_A", "w_B", "w_C"] and len(table) == 6
    for k in (0, 4):
        st = run_portfolio(bars, alloc="fixed", weights=dict(zip("ABC", w[k], strict=True)), rebalance="1D",
                           **CLOSE).stats()
        for key in ("final_equity", "sharpe", "max_drawdown", "n_trades", "total_fees", "exposure"):
            assert table.loc[k, key] == pytest.approx(st[key], rel=1e-12), key


def test_plot_when_portfolio_then_stacks_weights_and_draws_contributions(three_assets):
    res = run_portfolio(three_assets(200), alloc="equal", rebalance="1D", **CLOSE)
    fig = res.plot()
    stacked = [t for t in fig.data if getattr(t, "stackgroup", None) == "w"]
    assert [t.name for t in stacked] == ["A weight", "B weight", "C weight"]
    assert {"A contribution", "B contribution", "C contribution", "equity"} <= {t.name for t in fig.data}
