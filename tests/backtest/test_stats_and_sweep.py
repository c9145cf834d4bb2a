"""Statistics against independent formulas, the golden real-data run, and sweep ↔ run equality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars

from peaktrade.backtest import ALL_STAT_KEYS, STAT_KEYS, run, sweep
from peaktrade.errors import BacktestError, StrategyError

GOLDEN = Path(__file__).with_name("golden_btc_ma_crossover.json")


def _independent(res) -> dict[str, float]:
    eq = res.equity
    r = eq / eq.shift(1).fillna(res.init_cash) - 1
    step = pd.Series(eq.index).diff().mode()[0]
    ann = pd.Timedelta(days=365) / step
    years = (eq.index[-1] - eq.index[0] + step) / pd.Timedelta(days=365)
    peak = np.maximum.accumulate(np.r_[res.init_cash, eq.to_numpy()])[1:]
    closed = res.trades[~res.trades["is_open"]]
    wins = closed["pnl"][closed["pnl"] > 0].sum()
    losses = -closed["pnl"][closed["pnl"] <= 0].sum()
    return {
        "total_return": eq.iloc[-1] / res.init_cash - 1,
        "cagr": (eq.iloc[-1] / res.init_cash) ** (1 / years) - 1,
        "volatility": r.std(ddof=1) * np.sqrt(ann),
        "sharpe": r.mean() / r.std(ddof=1) * np.sqrt(ann),
        "sortino": r.mean() / np.sqrt((np.minimum(r, 0) ** 2).mean()) * np.sqrt(ann),
        "max_drawdown": (1 - eq / peak).max(),
        "exposure": (res.positions != 0).mean(),
        "n_trades": len(res.trades),
        "win_rate": (closed["pnl"] > 0).mean(),
        "profit_factor": wins / losses,
        "expectancy": closed["pnl"].mean(),
        "avg_trade_return": closed["ret"].mean(),
        "best_trade": closed["ret"].max(),
        "worst_trade": closed["ret"].min(),
        "avg_holding_time": ((closed["exit_time"] - closed["entry_time"]).mean() / pd.Timedelta(days=1)),
        "final_equity": eq.iloc[-1],
    }


def test_stats_match_independent_formulas_when_random_walk():
    b = random_bars(3000, seed=11)
    res = run("ma_crossover", b, fast=8, slow=40, fees=0.001)
    s = res.stats()
    assert list(s.index) == list(ALL_STAT_KEYS)  # the strategy's keys, then the buy-and-hold benchmark's
    for k, v in _independent(res).items():
        assert s[k] == pytest.approx(v, rel=1e-9), k
    assert s["calmar"] == pytest.approx(s["cagr"] / s["max_drawdown"])


def test_annualization_follows_bar_interval_when_daily_bars():
    hourly = random_bars(500, seed=2, freq="1h")
    daily = hourly.copy()
    daily.index = pd.date_range("2020-01-01", periods=500, freq="1D", tz="UTC", name="time")
    sh = run("ma_crossover", hourly, fast=5, slow=20).stats()
    sd = run("ma_crossover", daily, fast=5, slow=20).stats()
    assert sh["sharpe"] / sd["sharpe"] == pytest.approx(np.sqrt(8760 / 365))
    assert sd["avg_holding_time"] == pytest.approx(24 * sh["avg_holding_time"])


def test_drawdown_duration_counts_peak_to_recovery():
    idx = pd.date_range("2020-01-01", periods=6, freq="1D", tz="UTC")
    close = pd.Series([100.0, 110, 90, 100, 111, 120], index=idx)
    from peaktrade.backtest import from_signals

    res = from_signals(close, pd.Series([True] + [False] * 5, index=idx), pd.Series(False, index=idx),
                       execution="close")
    s = res.stats()
    assert s["max_drawdown"] == pytest.approx(20 / 110)
    assert s["max_drawdown_duration"] == pytest.approx(3.0)  # peak on day 1, recovered on day 4


@pytest.mark.realdata
def test_golden_stats_when_canonical_btc_run(btc_bars):
    """Pin every stat of one canonical run on real BTC data (regenerate deliberately, never casually)."""
    res = run("ma_crossover", btc_bars, fast=20, slow=100, fees=0.0026, slippage=0.0005, init_cash=10_000.0,
              execution="next_open")  # explicit: the pinned numbers never follow a config edit
    got = res.stats()
    golden = json.loads(GOLDEN.read_text())
    assert list(golden) == list(STAT_KEYS)
    for k in STAT_KEYS:
        assert got[k] == pytest.approx(golden[k], rel=1e-9, nan_ok=True), k
    # key metrics cross-checked against vectorbt's own implementation (close execution)
    import vectorbt as vbt
    # explicit zero slippage: vectorbt's from_signals below has none (the config's would differ)
    res_c = run("ma_crossover", btc_bars, fast=20, slow=100, fees=0.0026, slippage=0.0, execution="close")
    pf = vbt.Portfolio.from_signals(btc_bars["close"], res_c.entries, res_c.exits, fees=0.0026,
                                    init_cash=10_000.0, freq="1h")
    s = res_c.stats()
    assert s["total_return"] == pytest.approx(pf.total_return(), rel=1e-9)
    assert s["n_trades"] == pf.trades.count()
    assert s["win_rate"] == pytest.approx(pf.trades.closed.win_rate(), rel=1e-9)
    assert s["profit_factor"] == pytest.approx(pf.trades.closed.profit_factor(), rel=1e-9)


def test_every_row_equals_run_when_sweeping(bars):
    grid = dict(fast=[3, 5, 8], slow=[10, 21], sl_stop=[None, 0.02], sl_trail=[None, 0.03])
    res = sweep("ma_crossover", bars, fees=0.001, slippage=0.0005, **grid)
    assert len(res.table) == 3 * 2 * 2 * 2
    assert list(res.table.columns[:4]) == ["fast", "slow", "sl_stop", "sl_trail"]
    for _, row in res.table.iterrows():
        kw = {k: (None if pd.isna(row[k]) else row[k]) for k in grid}
        kw["fast"], kw["slow"] = int(kw["fast"]), int(kw["slow"])
        one = run("ma_crossover", bars, fees=0.001, slippage=0.0005, **kw).stats()
        np.testing.assert_allclose(row[list(ALL_STAT_KEYS)].to_numpy(float), one.to_numpy(float), rtol=1e-12,
                                   equal_nan=True)


def test_sweep_equals_run_when_execution_close_and_short(bars):
    res = sweep("ma_crossover", bars, execution="close", direction="both", fast=[4, 6], slow=[20, 30])
    for _, row in res.table.iterrows():
        one = run("ma_crossover", bars, execution="close", direction="both", fast=int(row["fast"]),
                  slow=int(row["slow"])).stats()
        np.testing.assert_allclose(row[list(ALL_STAT_KEYS)].to_numpy(float), one.to_numpy(float), rtol=1e-12,
                                   equal_nan=True)


def test_constraint_breakers_skipped_and_counted_when_grid_overlaps(bars):
    res = sweep("ma_crossover", bars, fast=range(5, 30, 5), slow=range(10, 30, 10))
    expected = sum(1 for f in range(5, 30, 5) for s in range(10, 30, 10) if f < s)
    assert len(res.table) == expected
    assert res.n_skipped == 5 * 2 - expected
    assert res.skipped_reasons == {"fast < slow": 5 * 2 - expected}
    assert (res.table["fast"] < res.table["slow"]).all()


def test_best_and_heatmap_when_sweep_done(bars):
    res = sweep("ma_crossover", bars, fast=[3, 5, 8], slow=[20, 40])
    best = res.best("sharpe")
    assert best["sharpe"] == res.table["sharpe"].max()
    bp = res.best_params("max_drawdown", minimize=True)
    assert bp["fast"] in (3, 5, 8) and type(bp["fast"]) is int and type(bp["slow"]) is int
    fig = res.heatmap("fast", "slow", "total_return")
    assert np.asarray(fig.data[0].z).shape == (2, 3)
    with pytest.raises(BacktestError, match="metric='nope'"):
        res.best("nope")
    with pytest.raises(BacktestError, match="not a swept parameter"):
        res.heatmap("fast", "kind")


def test_error_names_parameter_when_grid_value_invalid(bars):
    with pytest.raises(StrategyError, match="ma_crossover.fast"):
        sweep("ma_crossover", bars, fast=[5, -1], slow=[20])
    with pytest.raises(StrategyError, match="unknown parameter"):
        sweep("ma_crossover", bars, speed=[1, 2])
    with pytest.raises(BacktestError, match="empty"):
        sweep("ma_crossover", bars, fast=[], slow=[20])


def test_part_sums_match_run_returns_when_sweeping(bars):
    res = sweep("ma_crossover", bars, fees=0.001, fast=[3, 5], slow=[20], n_parts=4)
    assert res.part_sums.shape == (2, 4, 2) and res.part_bars.sum() == len(bars)
    r = run("ma_crossover", bars, fees=0.001, fast=5, slow=20).returns.to_numpy()
    edges = np.r_[0, np.cumsum(res.part_bars)]
    for p in range(4):
        seg = r[edges[p]:edges[p + 1]]
        assert res.part_sums[1, p, 0] == pytest.approx(seg.sum(), abs=1e-12)
        assert res.part_sums[1, p, 1] == pytest.approx((seg ** 2).sum(), abs=1e-12)
