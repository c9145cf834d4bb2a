"""Ruin (equity reaching zero ends the account) and calendar-true statistics on bars with gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars

from peaktrade.backtest import ALL_STAT_KEYS, from_signals, run, sweep
from peaktrade.backtest.stats import annualization
from peaktrade.errors import BacktestError

from .conftest import bars_from
from .conftest import fs as _fs


def _issue_repro():
    idx = pd.date_range("2024-01-01", periods=8, freq="h", tz="UTC")
    close = pd.Series([100, 100, 150, 250, 400, 600, 900, 900.], index=idx)
    e = pd.Series([True] + [False] * 7, index=idx)
    x = pd.Series(False, index=idx)
    return from_signals(close, e, x, direction="short", execution="close")


# --------------------------------------------------------------------------------------------
# ruin


def test_account_ruined_when_short_loses_everything_then_total_return_minus_one_and_sharpe_not_positive():
    r = _issue_repro()
    s = r.stats()
    assert s["total_return"] == -1.0
    assert s["ruined"] == 1.0
    assert s["sharpe"] <= 0.0 and s["sortino"] <= 0.0
    assert s["max_drawdown"] == 1.0
    assert s["final_equity"] == 0.0
    # short 100 units at 100 with 20,000 cash: equity is zero at 200, inside bar 3 (150 -> 250)
    assert r.equity.tolist() == [10_000.0, 10_000.0, 5_000.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    tr = r.trades.iloc[-1]
    assert tr["exit_reason"] == "ruin" and tr["exit_price"] == pytest.approx(200.0) and tr["exit_idx"] == 3
    assert tr["pnl"] == pytest.approx(-10_000.0)
    assert r.ruin_time == r.equity.index[3]
    assert s["ruin_time"] == pytest.approx(3 / 24)  # days from the first bar's open to the ruin bar's open


def test_per_bar_stats_use_path_up_to_ruin_when_ruined():
    r = _issue_repro()
    s = r.stats()
    rets = np.array([0.0, 0.0, -0.5, -1.0])  # bars 0..3; nothing after the ruin bar counts
    ann = 8760.0
    assert s["sharpe"] == pytest.approx(rets.mean() / rets.std(ddof=1) * np.sqrt(ann), rel=1e-12)
    assert s["volatility"] == pytest.approx(rets.std(ddof=1) * np.sqrt(ann), rel=1e-12)
    assert s["sortino"] == pytest.approx(rets.mean() / np.sqrt((rets ** 2).mean()) * np.sqrt(ann), rel=1e-12)
    assert s["exposure"] == pytest.approx(3 / 4)
    # peak: bar 1's close (02:00); ruin bar 3 closes at 04:00
    assert s["max_drawdown_duration"] == pytest.approx(2 / 24)


def test_ruin_fills_at_open_when_bar_gaps_through_ruin_price_then_shortfall_written_off():
    b = bars_from([(100, 100, 100, 100), (100, 101, 99, 100), (250, 260, 240, 255), (255, 256, 250, 252),
                   (90, 95, 85, 90)])
    r = _fs(b, [0], [], direction="short", execution="close", fees=0.001, slippage=0.001)
    assert (r.equity >= 0).all()
    assert r.equity.iloc[2:].eq(0.0).all()
    tr = r.trades.iloc[-1]
    assert tr["exit_reason"] == "ruin" and tr["exit_idx"] == 2
    assert tr["exit_price"] == pytest.approx(250 * 1.001)  # the open, with slippage
    assert r.init_cash + r.trades["pnl"].sum() == pytest.approx(0.0, abs=1e-9)
    assert r.stats()["ruined"] == 1.0 and len(r.trades) == 1


def test_ruin_level_intrabar_when_high_reaches_it_with_costs_then_equity_floors_at_zero():
    b = bars_from([(100, 100, 100, 100), (100, 101, 99, 100), (150, 210, 140, 160), (160, 161, 150, 155)])
    r = _fs(b, [0], [], direction="short", execution="close", fees=0.002, slippage=0.001)
    tr = r.trades.iloc[-1]
    cash_after_entry = 10_000 + tr["size"] * tr["entry_price"] - tr["entry_fees"]
    ruin_price = cash_after_entry / tr["size"]  # cash + position * p = 0
    assert 140 < ruin_price < 210
    assert tr["exit_price"] == pytest.approx(ruin_price * 1.001)
    assert r.equity.iloc[2] == 0.0 and r.cash.iloc[2] == 0.0 and r.positions.iloc[2] == 0.0
    assert r.stats()["total_return"] == -1.0


def test_no_orders_after_ruin_when_signals_keep_coming():
    b = bars_from([(100, 100, 100, 100), (100, 101, 99, 100), (150, 250, 140, 240)] + [(240, 241, 239, 240)] * 6)
    r = _fs(b, [4, 6], [0, 5, 7], direction="both", execution="close")  # the exit at bar 0 goes short
    assert len(r.trades) == 1 and r.trades.iloc[0]["exit_reason"] == "ruin"
    assert r.equity.iloc[2:].eq(0.0).all() and r.positions.iloc[2:].eq(0.0).all()


def test_ruined_when_close_leaves_cash_below_zero_then_later_entries_ignored():
    # a tiny account and a fixed fee larger than what the position is worth: the exit ruins it
    b = bars_from([(100, 100, 100, 100)] * 6)
    r = _fs(b, [0, 3], [1], execution="close", init_cash=10.0, fixed_fees=6.0)
    assert r.trades.iloc[0]["exit_reason"] == "ruin" and len(r.trades) == 1
    assert r.equity.iloc[1:].eq(0.0).all()
    assert r.stats()["ruined"] == 1.0 and r.stats()["total_return"] == -1.0


def test_stop_fills_before_ruin_when_stop_level_reached_first():
    b = bars_from([(100, 100, 100, 100), (100, 101, 99, 100), (150, 250, 140, 240), (240, 241, 239, 240)])
    r = _fs(b, [0], [], direction="short", execution="close", sl_stop=0.6)
    tr = r.trades.iloc[0]
    assert tr["exit_reason"] == "stop_loss" and tr["exit_price"] == pytest.approx(160.0)
    assert r.stats()["ruined"] == 0.0 and r.equity.iloc[-1] == pytest.approx(4_000.0)


def test_not_ruined_when_long_without_leverage_on_positive_prices():
    b = random_bars(400, seed=11)
    r = _fs(b, range(0, 400, 7), range(3, 400, 7), fees=0.01, slippage=0.01)
    assert r.stats()["ruined"] == 0.0 and np.isnan(r.stats()["ruin_time"]) and r.ruin_time is None


def _crash_bars(n=600, seed=4):
    """A random walk with two slides (the crossovers turn short) each followed by a squeeze: the
    combinations short at a squeeze are ruined, the others are not."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0, 0.01, n)
    r[200:260] -= 0.004
    r[262] += 1.2  # +230 % in one bar
    r[400:460] -= 0.004
    r[470] += 0.9
    close = 100.0 * np.exp(np.cumsum(r))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.003, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.003, n)))
    idx = pd.date_range("2022-01-01", periods=n, freq="1h", tz="UTC", name="time")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}, index=idx)


@pytest.mark.parametrize("execution", ["next_open", "close"])
def test_sweep_row_equals_run_when_some_combinations_ruined(execution):
    b = _crash_bars()
    kw = dict(fees=0.001, slippage=0.0005, direction="both", execution=execution)
    sw = sweep("ma_crossover", b, fast=[3, 5, 8, 13], slow=[20, 40, 80], **kw)
    t = sw.table
    assert 0 < int(t["ruined"].sum()) < len(t)
    for _, row in t.iterrows():
        one = run("ma_crossover", b, fast=int(row["fast"]), slow=int(row["slow"]), **kw).stats()
        np.testing.assert_allclose(row[list(ALL_STAT_KEYS)].to_numpy(float), one.to_numpy(float), rtol=1e-12,
                                   equal_nan=True)


def test_best_never_picks_ruined_combination_when_its_metric_is_highest():
    b = _crash_bars()
    sw = sweep("ma_crossover", b, fast=[3, 5, 8, 13], slow=[20, 40, 80], fees=0.001, direction="both")
    t = sw.table
    # make a ruined row the top Sharpe on purpose: best() must still skip it
    ruined = t.index[t["ruined"] == 1.0]
    t.loc[ruined[0], "sharpe"] = 1e6
    best = sw.best("sharpe")
    assert best["ruined"] == 0.0
    assert best.name == t.loc[t["ruined"] == 0.0, "sharpe"].idxmax()
    t.loc[t["ruined"] == 0.0, "sharpe"] = np.nan
    with pytest.raises(BacktestError, match="without ruin"):
        sw.best("sharpe")


# --------------------------------------------------------------------------------------------
# annualization and durations on bars with gaps


def _gappy(n=3000, seed=7, keep=0.8):
    b = random_bars(n, seed=seed)
    rng = np.random.default_rng(seed)
    mask = rng.random(n) < keep
    mask[0] = mask[-1] = True
    return b[mask]


def test_annualization_uses_observed_bars_per_year_when_bars_missing():
    full = random_bars(3000, seed=7)
    ann_full, years_full, _ = annualization(full.index)
    assert ann_full == 8760.0  # no gaps: exactly the nominal factor
    g = _gappy()
    ann, years, _ = annualization(g.index)
    assert years == years_full
    assert ann == pytest.approx(len(g) / years, rel=1e-12) and ann < 8760 * 0.85
    res = run("ma_crossover", g, fast=5, slow=30, fees=0.001)
    s = res.stats()
    eq = res.equity
    r = eq / eq.shift(1).fillna(res.init_cash) - 1
    assert s["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(len(g) / years), rel=1e-9)
    assert s["volatility"] == pytest.approx(r.std(ddof=1) * np.sqrt(len(g) / years), rel=1e-9)
    assert s["sortino"] == pytest.approx(r.mean() / np.sqrt((np.minimum(r, 0) ** 2).mean())
                                         * np.sqrt(len(g) / years), rel=1e-9)


def test_sweep_row_equals_run_when_bars_missing():
    g = _gappy()
    kw = dict(fees=0.001, slippage=0.0005, sl_stop=0.03)
    sw = sweep("ma_crossover", g, fast=[5, 10], slow=[30, 60], **kw)
    for _, row in sw.table.iterrows():
        one = run("ma_crossover", g, fast=int(row["fast"]), slow=int(row["slow"]), **kw).stats()
        np.testing.assert_allclose(row[list(ALL_STAT_KEYS)].to_numpy(float), one.to_numpy(float), rtol=1e-12,
                                   equal_nan=True)


def test_durations_in_calendar_time_when_bars_missing():
    # daily closes; days 3..9 are missing from the data
    idx = pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-10", "2024-01-11", "2024-01-12"],
                           tz="UTC")
    close = pd.Series([100.0, 110, 90, 95, 111, 112], index=idx)
    entries = pd.Series([True, False, False, False, False, False], index=idx)
    exits = pd.Series([False, False, False, False, True, False], index=idx)
    res = from_signals(close, entries, exits, execution="close")
    s = res.stats()
    # peak at the close of Jan 2, recovered at the close of Jan 11: 9 days, not 3 bars
    assert s["max_drawdown_duration"] == pytest.approx(9.0)
    # held from Jan 1's close to Jan 11's close: 10 days, not 4 bars
    assert s["avg_holding_time"] == pytest.approx(10.0)
    closed = res.trades[~res.trades["is_open"]]
    assert s["avg_holding_time"] == pytest.approx(
        (closed["exit_time"] - closed["entry_time"]).mean() / pd.Timedelta(days=1))


def test_compute_stats_stops_at_first_non_positive_equity_when_series_goes_negative():
    from peaktrade.backtest import compute_stats
    from peaktrade.backtest.enums import trade_dt
    from peaktrade.backtest.result import trades_frame

    idx = pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC")
    equity = pd.Series([10_000.0, 5_000.0, -3_000.0, -8_000.0, -20_000.0], index=idx)  # an unfloored series
    pos = pd.Series(-1.0, index=idx)
    s = compute_stats(equity, pos, trades_frame(np.empty(0, dtype=trade_dt), idx), init_cash=10_000.0)
    rets = np.array([0.0, -0.5, -1.0])
    assert s["ruined"] == 1.0 and s["total_return"] == -1.0 and s["max_drawdown"] == 1.0
    assert s["sharpe"] == pytest.approx(rets.mean() / rets.std(ddof=1) * np.sqrt(8760), rel=1e-12)
    assert s["ruin_time"] == pytest.approx(2 / 24)
    with pytest.raises(BacktestError, match="init_cash=0 is invalid"):
        compute_stats(equity, pos, trades_frame(np.empty(0, dtype=trade_dt), idx), init_cash=0)


@pytest.mark.realdata
def test_issue_numbers_when_full_btc_hourly_with_gaps(btc_bars):
    # issue 10 item 2: run("ma_crossover", BTC 1h, fees=0.0026) — 0.857 not 0.921, 666 d not 498 d
    ann, years, _ = annualization(btc_bars.index)
    assert ann == pytest.approx(7587.5, abs=0.1) and len(btc_bars) == 70_253
    res = run("ma_crossover", btc_bars, fees=0.0026, slippage=0.0)  # the issue's numbers: no slippage
    s = res.stats()
    eq = res.equity
    r = (eq / eq.shift(1).fillna(res.init_cash) - 1).to_numpy()
    observed = len(btc_bars) / ((btc_bars.index[-1] - btc_bars.index[0] + pd.Timedelta(hours=1)) / pd.Timedelta(days=365))
    assert s["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(observed), rel=1e-9)
    assert s["sharpe"] == pytest.approx(0.857, abs=5e-4)
    assert s["sharpe"] * np.sqrt(8760 / ann) == pytest.approx(0.921, abs=5e-4)  # what 8,760 gave
    # the longest drawdown: 11,953 bars from the peak to the recovery (498 d counted as hours) span
    # 665.75 calendar days
    under = np.r_[res.init_cash, eq.to_numpy()]
    assert s["max_drawdown_duration"] == pytest.approx(665.75, abs=0.01)
    peak = np.maximum.accumulate(under)
    longest = run_len = 0
    for u in (under < peak)[1:]:
        run_len = run_len + 1 if u else 0
        longest = max(longest, run_len)
    assert (longest + 1) / 24 == pytest.approx(498.04, abs=0.01)
