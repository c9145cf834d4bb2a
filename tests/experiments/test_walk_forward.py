"""Walk-forward optimization: windows, optimization, warm test runs without lookahead, stitching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from experiment_helpers import squeeze_bars
from helpers import random_bars

from peaktrade.backtest import ALL_STAT_KEYS, STAT_KEYS, sweep
from peaktrade.errors import BacktestError
from peaktrade.experiments import WalkForwardResult, walk_forward
from peaktrade.strategies import generate_signals

GRID = {"fast": [5, 10, 20], "slow": [40, 80]}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return random_bars(3000, seed=7)


@pytest.fixture(scope="module")
def wf(bars) -> WalkForwardResult:
    # explicit zero slippage: the window-end closes below are checked at the bare close
    return walk_forward("ma_crossover", bars, train=1000, test=500, fees=0.001, slippage=0.0, **GRID)


def test_walk_forward_when_rolling_bar_counts_then_test_windows_tile_the_data_after_the_first_train(wf, bars):
    f = wf.folds
    assert list(f["fold"]) == [0, 1, 2, 3]
    assert list(f["train_bars"]) == [1000] * 4 and list(f["test_bars"]) == [500] * 4
    assert list(f["train_start"]) == list(bars.index[[0, 500, 1000, 1500]])
    assert list(f["test_start"]) == list(bars.index[[1000, 1500, 2000, 2500]])
    assert list(f["test_end"]) == list(bars.index[[1499, 1999, 2499, 2999]])
    assert (f["train_end"] < f["test_start"]).all()
    assert wf.oos_equity.index.equals(bars.index[1000:])


def test_walk_forward_when_positions_closed_at_window_end_then_exit_reason_names_its_code(wf):
    from peaktrade.backtest.enums import EXIT_REASON_NAMES, EXIT_WINDOW_END

    tr = wf.oos_trades
    assert (tr["exit_reason_code"] == EXIT_WINDOW_END).any()
    # every exit reason is a valid name, the one its code stands for
    assert list(tr["exit_reason"]) == [EXIT_REASON_NAMES[c] for c in tr["exit_reason_code"]]


def test_walk_forward_when_run_then_folds_have_params_train_metric_and_every_test_stat(wf):
    cols = set(wf.folds.columns)
    assert {"fold", "train_start", "train_end", "test_start", "test_end", "fast", "slow", "train_sharpe"} <= cols
    assert {f"test_{k}" for k in STAT_KEYS} <= cols
    assert wf.params == ["fast", "slow"] and wf.metric == "sharpe"
    assert wf.folds["fast"].dtype.kind == "i"


def test_walk_forward_when_run_then_best_params_are_the_train_sweeps_best(wf, bars):
    for _, row in wf.folds.iterrows():
        a = bars.index.get_loc(row["train_start"])
        b = bars.index.get_loc(row["train_end"]) + 1
        sw = sweep("ma_crossover", bars.iloc[a:b], progress=False, fees=0.001, slippage=0.0, **GRID)
        best = sw.best("sharpe")
        assert (row["fast"], row["slow"]) == (best["fast"], best["slow"])
        assert row["train_sharpe"] == pytest.approx(best["sharpe"], rel=1e-12)


def test_walk_forward_when_stitched_then_each_segment_starts_where_the_previous_ended(wf):
    f = wf.folds
    eq = wf.oos_equity
    assert f["test_final_equity"].iloc[-1] == pytest.approx(eq.iloc[-1])
    for _, row in f.iterrows():
        assert eq.loc[row["test_end"]] == pytest.approx(row["test_final_equity"], rel=1e-12)
    chained = np.prod(1.0 + f["test_total_return"].to_numpy()) - 1.0
    st = wf.stats()
    assert list(st.index) == list(ALL_STAT_KEYS)  # the strategy's stats, then the test windows' buy and hold
    assert st["total_return"] == pytest.approx(chained, rel=1e-10)
    assert st["final_equity"] == pytest.approx(eq.iloc[-1])
    r = wf.oos_returns
    assert r.iloc[0] == pytest.approx(eq.iloc[0] / 10_000.0 - 1.0)
    assert np.prod(1.0 + r.to_numpy()) - 1.0 == pytest.approx(st["total_return"], rel=1e-9)
    assert st["n_trades"] == len(wf.oos_trades) == f["test_n_trades"].sum()


def test_walk_forward_when_positions_open_at_window_end_then_they_are_closed_with_costs(wf, bars):
    tr = wf.oos_trades
    assert not tr["is_open"].any()
    assert wf.oos_positions.loc[wf.folds["test_end"]].eq(0.0).all()
    # with every trade closed the books balance: initial cash plus all pnl is the final equity
    assert 10_000.0 + tr["pnl"].sum() == pytest.approx(wf.oos_equity.iloc[-1], rel=1e-10)
    ended = tr[tr["exit_reason"] == "window_end"]
    assert len(ended) >= 1
    for _, t in ended.iterrows():
        # closed at the close of the window's last bar (stamped with that bar's close time)
        last = t["exit_time"] - pd.Timedelta(hours=1)
        assert last in set(wf.folds["test_end"])
        close = bars["close"].loc[last]
        assert t["exit_price"] == pytest.approx(close)
        assert t["exit_fees"] == pytest.approx(0.001 * t["size"] * close)
        assert t["pnl"] == pytest.approx(t["size"] * (close - t["entry_price"]) - t["entry_fees"] - t["exit_fees"])


def test_walk_forward_when_test_run_then_signals_are_warm_and_trades_start_inside_the_window(wf, bars):
    tr = wf.oos_trades
    assert len(tr)
    for _, row in wf.folds.iterrows():
        e, _ = generate_signals("ma_crossover", bars, fast=int(row["fast"]), slow=int(row["slow"]))
        mine = tr[tr["fold"] == row["fold"]]
        assert (mine["entry_time"] > row["test_start"]).all()
        # next_open: each entry fills one bar after an entry signal of the full-history signals
        signal_bars = bars.index.get_indexer(mine["entry_time"]) - 1
        assert e.to_numpy()[signal_bars].all()
        # the first entry signal inside the window is traded: no cold-start lag
        window = e.loc[row["test_start"]:row["test_end"]].iloc[:-1]
        if window.any():
            first = bars.index.get_loc(window.idxmax()) + 1
            assert bars.index[first] == mine["entry_time"].min()


def test_walk_forward_when_later_bars_change_then_earlier_folds_do_not(bars, wf):
    changed = bars.copy()
    changed.iloc[2500:, :4] *= 1.5  # alter the last test window only
    other = walk_forward("ma_crossover", changed, train=1000, test=500, fees=0.001, slippage=0.0, **GRID)
    early = other.folds["test_end"] < bars.index[2500]
    assert early.sum() == 3
    pd.testing.assert_frame_equal(other.folds[early], wf.folds[early])


def test_walk_forward_when_anchored_then_train_windows_start_at_the_first_bar_and_grow(bars):
    wf = walk_forward("ma_crossover", bars, train=1000, test=500, anchored=True, **GRID)
    assert (wf.folds["train_start"] == bars.index[0]).all()
    assert list(wf.folds["train_bars"]) == [1000, 1500, 2000, 2500]
    assert wf.anchored


def test_walk_forward_when_time_spans_then_windows_follow_the_calendar(bars):
    wf = walk_forward("ma_crossover", bars, train="40D", test="20D", step=pd.Timedelta(days=20), **GRID)
    assert list(wf.folds["train_bars"].unique()) == [960]
    assert list(wf.folds["test_bars"].unique()) == [480]
    assert len(wf.folds) == (3000 - 960) // 480
    assert (wf.folds["test_start"] - wf.folds["train_start"] == pd.Timedelta(days=40)).all()


def test_walk_forward_when_calendar_offsets_then_windows_follow_month_starts():
    bars = random_bars(4000, seed=2)  # 2023-01-01 .. 2023-06-16, hourly
    wf = walk_forward("ma_crossover", bars, train="2MS", test="1MS", fast=[5, 10], slow=[40])
    assert list(wf.folds["test_start"].dt.month) == [3, 4, 5]
    assert (wf.folds["test_start"].dt.day == 1).all() and (wf.folds["test_start"].dt.hour == 0).all()
    assert list(wf.folds["test_bars"]) == [31 * 24, 30 * 24, 31 * 24]


def test_walk_forward_when_step_exceeds_test_then_oos_curve_skips_the_gaps(bars):
    wf = walk_forward("ma_crossover", bars, train=1000, test=400, step=600, **GRID)
    assert list(wf.folds["test_start"]) == list(bars.index[[1000, 1600, 2200]])
    assert len(wf.oos_equity) == 3 * 400


def test_walk_forward_when_minimize_then_the_lowest_train_metric_wins(bars):
    wf = walk_forward("ma_crossover", bars, train=1000, test=1000, metric="max_drawdown", minimize=True, **GRID)
    row = wf.folds.iloc[0]
    sw = sweep("ma_crossover", bars.iloc[:1000], progress=False, **GRID)
    assert row["train_max_drawdown"] == pytest.approx(sw.table["max_drawdown"].min())


def test_walk_forward_when_nothing_trades_in_train_then_the_fold_stays_flat(bars):
    wf = walk_forward("ma_crossover", bars, train=300, test=300, fast=[5], slow=[500, 600])
    assert wf.folds["fast"].isna().all() and wf.folds["train_sharpe"].isna().all()
    assert (wf.oos_equity == 10_000.0).all()
    assert len(wf.oos_trades) == 0 and wf.stats()["total_return"] == 0.0


def test_param_stability_when_folds_then_summarizes_each_param(wf):
    ps = wf.param_stability
    assert list(ps.index) == ["fast", "slow"]
    assert {"mean", "std", "min", "max", "n_unique", "mode_share"} <= set(ps.columns)
    fast = wf.folds["fast"]
    assert ps.loc["fast", "mean"] == pytest.approx(fast.mean())
    assert ps.loc["fast", "n_unique"] == fast.nunique()
    assert ps.loc["fast", "mode_share"] == pytest.approx(fast.value_counts().iloc[0] / len(fast))


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"train": 2800, "test": 500}, ["train=2800", "test=500", "3000 rows"]),
        ({"train": "120D", "test": "30D"}, ["train='120D'", "test='30D'", "3000 rows"]),
        ({"train": 1000, "test": "20D"}, ["train=1000", "test='20D'", "mix"]),
        ({"train": 1000, "test": 500, "step": 200}, ["step=200", "test=500"]),
        ({"train": "often", "test": 500}, ["train='often'"]),
        ({"train": 0, "test": 500}, ["train=0"]),
        ({"train": 1000, "test": 500, "metric": "alpha"}, ["metric='alpha'"]),
        ({"train": 10, "test": 500}, ["train=10", "n_parts"]),
        ({"train": "30D", "test": "30min"}, ["test='30min'", "at least one bar"]),
    ],
)
def test_walk_forward_when_windows_or_options_are_invalid_then_error_names_them(bars, kw, words):
    with pytest.raises(BacktestError) as exc:
        walk_forward("ma_crossover", bars, **kw, **GRID)
    for w in words:
        assert w in str(exc.value)


def test_test_segment_when_trading_from_the_first_bar_then_equals_run(bars):
    from peaktrade.backtest import BacktestOptions, run
    from peaktrade.experiments.walk_forward import _test_segment
    from peaktrade.strategies import get_strategy

    window = bars.iloc[:1500]
    opts = {"fees": 0.001, "slippage": 0.0005}
    ref = run("ma_crossover", window, fast=10, slow=40, **opts)
    equity, pos, trades = _test_segment(get_strategy("ma_crossover"), window, 0, {"fast": 10, "slow": 40},
                                        BacktestOptions.parse(**opts), 10_000.0)
    open_at_end = bool(ref.trades["is_open"].iloc[-1])
    last = -1 if open_at_end else None  # the last bar differs only by the window-end exit costs
    pd.testing.assert_series_equal(equity.iloc[:last], ref.equity.iloc[:last], check_names=False)
    pd.testing.assert_series_equal(pos.iloc[:last], ref.positions.iloc[:last], check_names=False)
    assert len(trades) == len(ref.trades)
    assert np.allclose(trades["pnl"].iloc[:-1], ref.trades["pnl"].iloc[:-1])


def test_walk_forward_never_selects_ruined_combination_when_its_train_metric_is_best():
    # minimizing worst_trade would pick a ruined combination first (its worst trade is -100 %)
    b = squeeze_bars(1200, seed=1)
    wf = walk_forward("ma_crossover", b, train=400, test=200, metric="worst_trade", minimize=True,
                      direction="both", fees=0.001, slippage=0.0, fast=[3, 5, 8, 13], slow=[20, 40, 80])
    assert any(sw.table["ruined"].sum() > 0 for sw in wf.sweeps)
    for sw, (_, fold) in zip(wf.sweeps, wf.folds.iterrows()):
        t = sw.table
        if (t["ruined"] == 1.0).all():  # nothing to select: the fold stays flat
            assert np.isnan(fold["fast"]) and fold["test_n_trades"] == 0
            continue
        row = t[(t["fast"] == fold["fast"]) & (t["slow"] == fold["slow"])].iloc[0]
        assert row["ruined"] == 0.0
        assert fold["train_worst_trade"] == t.loc[t["ruined"] == 0.0, "worst_trade"].min()


@pytest.mark.realdata
def test_walk_forward_when_real_btc_4h_bollinger_both_then_ruined_account_stays_at_zero(shared_data):
    from peaktrade.data import read_kraken_ohlcvt
    from peaktrade.data.resample import resample_bars

    b4 = resample_bars(read_kraken_ohlcvt(shared_data / "XBTUSD_60.csv.gz", symbol="BTC/USD", timeframe="1h"), "4h")
    wf = walk_forward("bollinger_reversion", b4, train=4000, test=2000, fees=0.001, slippage=0.0, direction="both",
                      window=[10, 20, 30, 40, 50, 60, 80, 100], k=[1.0, 1.5, 2.0, 2.5, 3.0])
    f = wf.folds
    for sw, (_, fold) in zip(wf.sweeps, f.iterrows()):
        if not np.isnan(fold["window"]):
            t = sw.table
            assert t[(t["window"] == fold["window"]) & (t["k"] == fold["k"])]["ruined"].iloc[0] == 0.0
    assert (wf.oos_equity >= 0.0).all()
    first = int(np.flatnonzero(f["test_ruined"].to_numpy() == 1.0)[0])  # out of sample, a short still blows up
    later = f.iloc[first + 1:]
    assert len(later) and (later["test_n_trades"] == 0).all() and (later["test_final_equity"] == 0).all()
    assert wf.oos_equity.loc[f["test_start"].iloc[first + 1]:].eq(0.0).all()
    s = wf.stats()
    assert s["ruined"] == 1.0 and s["total_return"] == -1.0 and s["sharpe"] <= 0.0
