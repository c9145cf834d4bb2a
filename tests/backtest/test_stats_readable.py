"""Issue 13 items 2 and 3: one set of defaults (config) for the API and the CLI, every result states its
costs, the buy-and-hold benchmark in every result, readable values, log-scale equity, DSR/PBO readings,
stress rows that say why they equal the baseline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars

from peaktrade.backtest import ALL_STAT_KEYS, BENCHMARK_KEYS, STAT_KEYS, from_signals, run, sweep
from peaktrade.backtest.stats import format_stat, format_stats


@pytest.fixture
def bars() -> pd.DataFrame:
    return random_bars(600, seed=3, vol=0.02, drift=0.0005)


# -- item 2: one set of defaults ---------------------------------------------------------------------------
def test_run_takes_config_costs_when_no_options_given(make_cfg, bars):
    cfg = make_cfg(backtest={"fees": 0.004, "slippage": 0.002})
    res = run("ma_crossover", bars, fast=5, slow=30)
    assert res.options["fees"] == 0.004 and res.options["slippage"] == 0.002
    # the config file relative to its project root (its folder, for a config outside any project)
    assert f"config {Path(cfg.source).name} [backtest]" in res.options_source
    assert "fees 0.4 %/side" in res.costs and "slippage 0.2 %" in res.costs and "next bar's open" in res.costs
    # the same numbers as the explicit options (what the CLI passes), not the zero-cost built-ins
    explicit = run("ma_crossover", bars, fast=5, slow=30, fees=0.004, slippage=0.002)
    assert res.stats()["total_return"] == explicit.stats()["total_return"]
    free = run("ma_crossover", bars, fast=5, slow=30, fees=0.0, slippage=0.0)
    assert free.stats()["total_return"] > res.stats()["total_return"]


def test_run_names_given_options_in_source_when_overridden(make_cfg, bars):
    make_cfg(backtest={"fees": 0.004})
    res = run("ma_crossover", bars, fast=5, slow=30, fees=0.0)
    assert res.options["fees"] == 0.0 and res.options_source.endswith("given: fees")


def test_run_uses_explicit_config_keyword_when_given(make_cfg, bars):
    other = make_cfg(backtest={"fees": 0.01, "execution": "close"})
    make_cfg(backtest={"fees": 0.002})  # the project's (environment) config now says 0.002
    res = run("ma_crossover", bars, config=other, fast=5, slow=30)
    assert res.options["fees"] == 0.01 and res.options["execution"] == "close"


def test_run_rejects_config_when_not_a_config(bars):
    from peaktrade.errors import BacktestError

    with pytest.raises(BacktestError, match="config is a dict: expected a peaktrade Config"):
        run("ma_crossover", bars, config={"fees": 0.0}, fast=5, slow=30)


def test_sweep_and_walk_forward_take_config_costs_when_no_options_given(make_cfg, bars):
    from peaktrade.experiments import walk_forward

    make_cfg(backtest={"fees": 0.003, "slippage": 0.001})
    sw = sweep("ma_crossover", bars, fast=[5, 8], slow=[30])
    assert sw.options["fees"] == 0.003 and "[backtest]" in sw.options_source and "fees 0.3 %/side" in sw.costs
    row = sw.table.iloc[0]
    again = run("ma_crossover", bars, fast=int(row["fast"]), slow=int(row["slow"]))
    assert again.stats()["sharpe"] == pytest.approx(row["sharpe"], rel=1e-9)
    wf = walk_forward("ma_crossover", bars, train=300, test=100, fast=[5, 8], slow=[30])
    assert wf.options["fees"] == 0.003 and wf.options["slippage"] == 0.001 and "[backtest]" in wf.options_source


def test_from_signals_states_builtin_defaults_when_no_options(bars):
    res = from_signals(bars["close"], bars["close"] > bars["open"], bars["close"] < bars["open"])
    assert res.options["fees"] == 0.0 and res.options_source == "built-in defaults"
    assert "fees 0 %/side" in res.costs


# -- item 3: benchmark ------------------------------------------------------------------------------------
def test_stats_carry_buy_and_hold_benchmark_when_run(bars):
    res = run("ma_crossover", bars, fast=5, slow=30, fees=0.001, slippage=0.0)
    st = res.stats()
    assert list(st.index) == list(ALL_STAT_KEYS) == [*STAT_KEYS, *BENCHMARK_KEYS]
    # independent: buy at the first open, hold to the last close
    c, o = bars["close"].to_numpy(), bars["open"].to_numpy()
    assert st["benchmark_return"] == pytest.approx(c[-1] / o[0] - 1.0, rel=1e-12)
    r = np.r_[c[0] / o[0] - 1.0, c[1:] / c[:-1] - 1.0]
    assert st["benchmark_sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(8760), rel=1e-9)
    eq = np.r_[1.0, c / o[0]]
    assert st["benchmark_max_drawdown"] == pytest.approx(np.max(1 - eq / np.maximum.accumulate(eq)), rel=1e-12)
    assert st["excess_return"] == pytest.approx(st["total_return"] - st["benchmark_return"], rel=1e-12)


def test_benchmark_sharpe_uses_observed_bars_per_year_when_bars_missing():
    times = pd.date_range("2023-01-01", periods=800, freq="1h", tz="UTC")
    b = random_bars(times=times.delete(range(100, 300)), seed=5)
    st = run("ma_crossover", b, fast=5, slow=30, fees=0.0, slippage=0.0).stats()
    c, o = b["close"].to_numpy(), b["open"].to_numpy()
    r = np.r_[c[0] / o[0] - 1.0, c[1:] / c[:-1] - 1.0]
    span_years = ((b.index[-1] - b.index[0]) + pd.Timedelta("1h")) / pd.Timedelta(days=365)
    assert st["benchmark_sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(len(b) / span_years),
                                                   rel=1e-9)


def test_sweep_table_has_benchmark_columns_when_swept(bars):
    sw = sweep("ma_crossover", bars, fast=[5, 8, 12], slow=[30, 40], fees=0.001, slippage=0.0)
    assert list(sw.table.columns[-4:]) == list(BENCHMARK_KEYS)
    assert sw.table["benchmark_return"].nunique() == 1
    one = run("ma_crossover", bars, fast=8, slow=40, fees=0.001, slippage=0.0).stats()
    row = sw.table[(sw.table["fast"] == 8) & (sw.table["slow"] == 40)].iloc[0]
    for k in BENCHMARK_KEYS:
        assert row[k] == pytest.approx(one[k], rel=1e-9), k


def test_walk_forward_stats_carry_benchmark_of_test_bars_when_run(bars):
    from peaktrade.experiments import walk_forward

    wf = walk_forward("ma_crossover", bars, train=300, test=100, fast=[5, 8], slow=[30], fees=0.0, slippage=0.0)
    st = wf.stats()
    assert list(st.index) == list(ALL_STAT_KEYS)
    # chained buy and hold of each test window (bought at its first open)
    growth = np.prod([bars.loc[r.test_start:r.test_end, "close"].iloc[-1] / bars.loc[r.test_start, "open"]
                      for r in wf.folds.itertuples()])
    assert st["benchmark_return"] == pytest.approx(growth - 1.0, rel=1e-12)
    assert "test_benchmark_return" in wf.folds and "test_excess_return" in wf.folds


# -- item 3: readable values -------------------------------------------------------------------------------
@pytest.mark.parametrize("key,value,text", [
    ("total_return", 20.06, "+2,006.00 %"),
    ("max_drawdown", 0.2226, "22.26 %"),
    ("win_rate", 0.5, "50.00 %"),
    ("max_drawdown_duration", 31.0, "31 d"),
    ("avg_holding_time", 0.25, "6 h"),
    ("max_drawdown_duration", 730.0, "2 y (730 d)"),
    ("n_trades", 11.0, "11"),
    ("ruined", 0.0, "no"),
    ("ruin_time", float("nan"), "-"),
    ("final_equity", 9702.411, "9,702.41"),
    ("sharpe", 1.23456, "1.23"),
    ("test_excess_return", -0.1, "-10.00 %"),
])
def test_format_stat_reads_as_percent_or_unit_when_key_known(key, value, text):
    assert format_stat(key, value) == text


def test_summary_formats_every_stat_when_run(bars):
    res = run("ma_crossover", bars, fast=5, slow=30, fees=0.001, slippage=0.0)
    s = res.summary()
    assert list(s.index) == list(ALL_STAT_KEYS)
    assert s["total_return"].endswith(" %") and s["max_drawdown_duration"].split()[-1] in ("h", "d", "d)")
    assert format_stats(res.stats()).equals(s)


def test_plot_uses_log_axes_when_log_requested(bars):
    res = run("ma_crossover", bars, fast=5, slow=30, fees=0.001, slippage=0.0)
    lin, log = res.plot(), res.plot(log=True)
    assert lin.layout.yaxis2.type in (None, "linear")
    assert log.layout.yaxis.type == "log" and log.layout.yaxis2.type == "log" and log.layout.yaxis3.type != "log"
    assert any(t.name == "buy and hold" for t in log.data)
    assert "fees 0.1 %/side" in log.layout.title.text


# -- item 3: DSR / PBO readings, stress notes -------------------------------------------------------------
def test_dsr_and_pbo_readings_state_meaning_when_shown():
    from peaktrade.experiments.overfitting import dsr_reading, pbo_reading

    assert dsr_reading(0.62, 130) == ("DSR 0.62: 62 % probability the true Sharpe is above 0 after 130 trials "
                                      "(corrected for picking the best of them; 0.95+ is strong evidence)")
    assert pbo_reading(0.24, 0.5, 12870).startswith("PBO 0.24: in 24 % of the 12,870 train/test splits")
    assert "not computable" in dsr_reading(float("nan"), 5)


def test_sweep_overfitting_carries_readings_when_computed(bars):
    from peaktrade.experiments import sweep_overfitting

    sw = sweep("ma_crossover", bars, fast=[5, 8, 12, 16], slow=[30, 40], fees=0.001, slippage=0.0, n_parts=4)
    ov = sweep_overfitting(sw, bars)
    assert ov["dsr_reading"].startswith(f"DSR {ov['dsr']:.2f}: ") and f"after {len(sw.table)} trials" in ov["dsr_reading"]
    assert ov["pbo_reading"].startswith(f"PBO {ov['pbo']:.2f}: ")


def test_stress_row_says_flat_at_shock_when_no_position_held():
    from peaktrade.experiments import stress_scenarios

    # falls, rises (one long trade), falls: the crossover is out long before the middle bar and stays out
    close = np.r_[np.linspace(150, 100, 100), np.linspace(100, 200, 100), np.linspace(200, 60, 300)]
    b = random_bars(times=pd.date_range("2023-01-01", periods=len(close), freq="1h", tz="UTC"), close=close)
    df = stress_scenarios("ma_crossover", b, fast=5, slow=20, fees=0.001, slippage=0.0)
    assert df.loc["crash", "total_return"] == df.loc["baseline", "total_return"]
    assert df.loc["crash", "note"].startswith("equal to baseline: flat at the shock")
    assert df.loc["costs_x3", "note"] == "" and "fees 0.1 %/side" in df.loc["baseline", "note"]


def test_report_states_costs_readable_stats_and_log_axes_when_built(tmp_path, bars):
    from peaktrade.reporting import build_report

    res = run("ma_crossover", bars, fast=5, slow=30, fees=0.001, slippage=0.0)
    html = build_report(title="t", path=tmp_path / "r.html", result=res, log_equity=True).read_text("utf-8")
    assert "costs and execution: fees 0.1 %/side, slippage 0 %" in html
    stats = html[html.index('id="stats-table"'):]
    assert format_stat("total_return", res.stats()["total_return"]) in stats and "benchmark_return" in html
    assert '"type":"log"' in html.replace(" ", "")
    plain = build_report(title="t", path=tmp_path / "p.html", result=res).read_text("utf-8")
    assert '"type":"log"' not in plain.replace(" ", "")
