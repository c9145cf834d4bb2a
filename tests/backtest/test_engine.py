"""Simulation semantics of from_signals/run: timing, costs, stops, directions, sizing, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade.backtest import from_signals, run
from peaktrade.errors import BacktestError, StrategyError

from .conftest import bars_from
from .conftest import fs as _fs

FLAT = [(100, 101, 99, 100)] * 3 + [(102, 104, 101, 103), (103, 106, 102, 105), (106, 107, 104, 106),
                                     (105, 106, 103, 104), (104, 105, 103, 104)]


def test_fill_at_next_open_when_execution_next_open():
    b = bars_from(FLAT)
    res = _fs(b, [2], [5], init_cash=1000.0)
    tr = res.trades.iloc[0]
    assert tr["entry_idx"] == 3 and tr["entry_price"] == pytest.approx(102.0)
    assert tr["exit_idx"] == 6 and tr["exit_price"] == pytest.approx(105.0)
    assert res.positions.iloc[2] == 0 and res.positions.iloc[3] > 0


def test_fill_at_signal_close_when_execution_close():
    b = bars_from(FLAT)
    res = _fs(b, [2], [5], execution="close", init_cash=1000.0)
    tr = res.trades.iloc[0]
    assert (tr["entry_idx"], tr["entry_price"], tr["exit_idx"], tr["exit_price"]) == (2, 100.0, 5, 106.0)
    assert res.equity.iloc[-1] == pytest.approx(1000.0 * 106 / 100)


def test_no_fill_when_signal_on_last_bar_and_next_open():
    b = bars_from(FLAT)
    res = _fs(b, [len(b) - 1], [])
    assert len(res.trades) == 0 and res.equity.iloc[-1] == 10_000.0


def test_signal_ignored_when_entry_and_exit_on_same_bar():
    b = bars_from(FLAT)
    res = _fs(b, [1], [1], execution="close")
    assert len(res.trades) == 0


def test_costs_charged_when_fees_fixed_fees_and_slippage():
    b = bars_from(FLAT)
    res = _fs(b, [2], [5], execution="close", init_cash=1000.0, fees=0.01, fixed_fees=2.0, slippage=0.001)
    tr = res.trades.iloc[0]
    buy = 100 * 1.001
    size = (1000.0 - 2.0) / 1.01 / buy
    assert tr["entry_price"] == pytest.approx(buy)
    assert tr["size"] == pytest.approx(size)
    assert tr["entry_fees"] == pytest.approx(1000.0 - size * buy)
    sell = 106 * 0.999
    assert tr["exit_fees"] == pytest.approx(size * sell * 0.01 + 2.0)
    assert res.equity.iloc[-1] == pytest.approx(size * sell * 0.99 - 2.0)
    assert res.stats()["total_fees"] == pytest.approx(tr["entry_fees"] + tr["exit_fees"])


def test_exit_at_stop_level_when_low_touches_stop_loss():
    b = bars_from([(100, 100, 100, 100), (100, 101, 99, 100), (100, 101, 94, 97), (97, 98, 96, 97)])
    res = _fs(b, [0], [], execution="close", sl_stop=0.05)
    tr = res.trades.iloc[0]
    assert tr["exit_reason"] == "stop_loss" and tr["exit_idx"] == 2 and tr["exit_price"] == pytest.approx(95.0)


def test_exit_at_open_when_bar_gaps_through_stop():
    b = bars_from([(100, 100, 100, 100), (100, 101, 99, 100), (90, 92, 88, 91), (91, 92, 90, 91)])
    res = _fs(b, [0], [], execution="close", sl_stop=0.05)
    tr = res.trades.iloc[0]
    assert tr["exit_reason"] == "stop_loss" and tr["exit_price"] == pytest.approx(90.0)


def test_stop_loss_wins_when_both_stops_inside_one_bar_unless_tp_priority():
    b = bars_from([(100, 100, 100, 100), (100, 111, 94, 100), (100, 100, 100, 100)])
    pess = _fs(b, [0], [], execution="close", sl_stop=0.05, tp_stop=0.10).trades.iloc[0]
    opt = _fs(b, [0], [], execution="close", sl_stop=0.05, tp_stop=0.10, stop_priority="tp").trades.iloc[0]
    assert (pess["exit_reason"], pess["exit_price"]) == ("stop_loss", pytest.approx(95.0))
    assert (opt["exit_reason"], opt["exit_price"]) == ("take_profit", pytest.approx(110.0))


def test_exit_at_trailing_level_when_price_falls_from_peak():
    b = bars_from([(100, 100, 100, 100), (100, 110, 100, 109), (109, 120, 108, 119), (119, 119, 105, 106),
                   (106, 107, 105, 106)])
    tr = _fs(b, [0], [], execution="close", sl_trail=0.1).trades.iloc[0]
    assert tr["exit_reason"] == "trailing_stop" and tr["exit_idx"] == 3
    assert tr["exit_price"] == pytest.approx(120 * 0.9)


def test_stops_checked_on_fill_bar_when_next_open():
    b = bars_from([(100, 100, 100, 100), (100, 101, 90, 95), (95, 96, 94, 95)])
    tr = _fs(b, [0], [], sl_stop=0.05).trades.iloc[0]
    assert tr["entry_idx"] == 1 and tr["exit_idx"] == 1 and tr["exit_reason"] == "stop_loss"


def test_short_profits_when_price_falls():
    b = bars_from([(100, 100, 100, 100), (100, 100, 90, 90), (90, 90, 80, 80)])
    res = _fs(b, [0], [2], execution="close", direction="short", init_cash=1000.0)
    tr = res.trades.iloc[0]
    assert tr["direction"] == -1 and tr["pnl"] == pytest.approx(200.0)
    assert res.equity.iloc[-1] == pytest.approx(1200.0)
    assert res.positions.iloc[1] == pytest.approx(-10.0)


def test_position_reverses_when_direction_both():
    b = bars_from(FLAT)
    res = _fs(b, [1, 6], [3], execution="close", direction="both")
    assert list(res.trades["direction"]) == [1, -1, 1]
    assert list(res.trades["exit_reason"]) == ["reverse", "reverse", "open"]


def test_invest_fraction_when_size_percent():
    b = bars_from(FLAT)
    res = _fs(b, [2], [], execution="close", size=0.25, init_cash=1000.0)
    assert res.trades.iloc[0]["size"] == pytest.approx(2.5)
    assert res.cash.iloc[2] == pytest.approx(750.0)


def test_fixed_notional_when_size_value():
    b = bars_from(FLAT)
    res = _fs(b, [2], [], execution="close", size=300.0, size_type="value", init_cash=1000.0)
    assert res.trades.iloc[0]["size"] == pytest.approx(3.0)


def test_size_scales_inversely_with_volatility_when_vol_target():
    calm, wild = random_bars(400, seed=1), random_bars(400, seed=1)
    wild["close"] = 100 * np.exp(np.log(wild["close"] / 100) * 4)
    wild["open"] = wild["close"].shift(1).fillna(100.0)
    wild["high"] = wild[["open", "close"]].max(axis=1)
    wild["low"] = wild[["open", "close"]].min(axis=1)
    kw = dict(execution="close", size=0.2, size_type="vol_target", vol_window=50)
    s_calm = _fs(calm, [300], [], **kw).trades.iloc[0]
    s_wild = _fs(wild, [300], [], **kw).trades.iloc[0]
    assert s_calm["size"] * s_calm["entry_price"] > 2 * s_wild["size"] * s_wild["entry_price"]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), direction=st.sampled_from(["long", "short", "both"]),
       execution=st.sampled_from(["close", "next_open"]), sl=st.sampled_from([None, 0.01, 0.03]),
       tp=st.sampled_from([None, 0.02]), trail=st.sampled_from([None, 0.02]))
def test_equity_equals_cash_plus_trade_pnl_when_any_signals(seed, direction, execution, sl, tp, trail):
    b = random_bars(300, seed=seed)
    rng = np.random.default_rng(seed)
    res = from_signals(b["close"], rng.random(300) < 0.05, rng.random(300) < 0.05, open=b["open"],
                       high=b["high"], low=b["low"], fees=0.001, fixed_fees=0.5, slippage=0.0005,
                       direction=direction, execution=execution, sl_stop=sl, tp_stop=tp, sl_trail=trail)
    assert res.init_cash + res.trades["pnl"].sum() == pytest.approx(res.equity.iloc[-1], rel=1e-9)
    assert (res.trades["exit_idx"] >= res.trades["entry_idx"]).all()


def test_past_unchanged_when_future_bars_change():
    b = random_bars(400, seed=5)
    full = run("ma_crossover", b, fast=5, slow=30)
    b2 = b.copy()
    b2.iloc[250:, :4] *= 1.5
    cut = run("ma_crossover", b2, fast=5, slow=30)
    pd.testing.assert_series_equal(full.equity.iloc[:250], cut.equity.iloc[:250])


@pytest.mark.parametrize("kw,needle", [
    (dict(fees=-0.1), "fees=-0.1"),
    (dict(slippage=2.0), "slippage=2.0"),
    (dict(execution="tomorrow"), "execution='tomorrow'"),
    (dict(direction="up"), "direction='up'"),
    (dict(init_cash=0), "init_cash=0"),
    (dict(size=1.5), "size=1.5"),
    (dict(stop_priority="x"), "stop_priority='x'"),
    (dict(leverage=2), "unknown option(s) leverage"),
])
def test_error_names_argument_when_option_invalid(kw, needle):
    b = random_bars(50)
    with pytest.raises(BacktestError, match=None) as ei:
        from_signals(b["close"], np.zeros(50, bool), np.zeros(50, bool), **kw)
    assert needle in str(ei.value)


def test_error_when_signals_misaligned_or_prices_bad():
    b = random_bars(50)
    with pytest.raises(BacktestError, match="entries has 10 rows"):
        from_signals(b["close"], np.zeros(10, bool), np.zeros(50, bool))
    bad = b.copy()
    bad.iloc[7, 3] = np.nan
    with pytest.raises(BacktestError, match="non-finite price"):
        run("ma_crossover", bad)
    with pytest.raises(StrategyError, match="unknown parameter"):
        run("ma_crossover", b, fastt=3)
    with pytest.raises(StrategyError, match="fast < slow"):
        run("ma_crossover", b, fast=30, slow=10)


def test_plot_has_price_equity_drawdown_when_called(bars):
    fig = run("ma_crossover", bars, fast=5, slow=20).plot()
    names = {t.name for t in fig.data}
    assert {"close", "entry", "exit", "equity", "drawdown"} <= names
