"""``peaktrade demo``, ``backtest`` and ``sweep`` end to end on the embedded synthetic data set."""

from __future__ import annotations

import pandas as pd
import pytest


def test_backtest_prints_stats_when_params_given(cfg, cli):
    r = cli("backtest", "ma_crossover", "--exchange", "synthetic", "--param", "fast=10", "--param", "slow=50",
            "--fees", "0.001", "--execution", "close")
    assert r.exit_code == 0, r.stderr
    assert "total_return" in r.stdout and "'fast': 10" in r.stdout


def test_sweep_writes_table_when_out_given(cfg, cli, tmp_path):
    for suffix in ("parquet", "csv"):
        out = tmp_path / f"table.{suffix}"
        r = cli("sweep", "ma_crossover", "--exchange", "synthetic", "--grid", "fast=5:20:5",
                "--grid", "slow=30,60", "--out", str(out), "--top", "3")
        assert r.exit_code == 0, r.stderr
        table = pd.read_parquet(out) if suffix == "parquet" else pd.read_csv(out)
        assert len(table) == 6 and list(table.columns[:2]) == ["fast", "slow"]
        assert "top 3 by sharpe" in r.stdout


@pytest.mark.parametrize("argv,needle", [
    (["sweep", "ma_crossover", "--exchange", "synthetic", "--grid", "fast"], "--grid 'fast' is invalid"),
    (["sweep", "ma_crossover", "--exchange", "synthetic", "--grid", "fast=9:3"], "START < STOP"),
    (["sweep", "ma_crossover", "--exchange", "synthetic", "--grid", "fast=5:9", "--metric", "luck"],
     "--metric 'luck'"),
    (["backtest", "nope", "--exchange", "synthetic"], "unknown strategy 'nope'"),
    (["backtest", "ma_crossover", "--exchange", "synthetic", "--param", "fast=50", "--param", "slow=10"],
     "fast < slow"),
    (["backtest", "ma_crossover", "--exchange", "synthetic", "--fees", "-1"], "fees=-1.0"),
    (["backtest", "ma_crossover", "--symbol", "DOGE/EUR"], "DOGE/EUR"),
])
def test_one_line_error_and_nonzero_exit_when_input_bad(cfg, cli, argv, needle):
    r = cli(*argv)
    assert r.exit_code != 0
    assert needle in r.stderr and "Traceback" not in r.stderr
