"""Issue 14 item 2 through the real CLI: ``peaktrade sweep`` refuses a grid above ``[sweep] max_memory`` in one
line, streams with ``--out``, keeps the best K with ``--top K``, and prints its estimate before a long run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import random_bars

from peaktrade.backtest import sweep
from peaktrade.backtest.sweep import rank_table
from peaktrade.data import BarStore

GRID = ("--grid", "fast=2:30", "--grid", "slow=10:60")
KW = {"fast": range(2, 30), "slow": range(10, 60)}


@pytest.fixture
def store(make_cfg):
    """A config with a 2 MiB sweep limit and 400 synthetic hourly bars of BTC/USD in its store."""
    cfg = make_cfg(sweep={"max_memory": "2MiB"})
    bars = random_bars(400, seed=5, vol=0.02)
    BarStore(cfg.data_dir).write("kraken", "BTC/USD", "1h", bars, source="test", synthetic=True)
    return cfg, bars


def test_sweep_refuses_in_one_line_when_issue_grid_given(make_cfg, cli):
    cfg = make_cfg(sweep={"max_memory": "8GiB"})
    BarStore(cfg.data_dir).write("kraken", "BTC/USD", "1h", random_bars(300, seed=1), source="test", synthetic=True)
    r = cli("sweep", "ma_crossover", "--grid", "fast=1:10000:1", "--grid", "slow=2:10000:1")
    assert r.exit_code == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith("error: sweep of ma_crossover refused: ~")
    assert "combinations × 300 bars would hold ~" in lines[0] and "above the memory limit 8.0 GiB ([sweep] max_memory)" \
        in lines[0] and "--top K" in lines[0] and "--out PATH.parquet" in lines[0]


def test_sweep_out_writes_whole_table_when_grid_above_memory_limit(store, cli, tmp_path):
    cfg, bars = store
    refused = cli("sweep", "ma_crossover", *GRID)
    assert refused.exit_code == 2 and "above the memory limit 2.0 MiB" in refused.stderr
    out = tmp_path / "grid.parquet"
    r = cli("sweep", "ma_crossover", *GRID, "--out", str(out))
    assert r.exit_code == 0, r.stderr
    full = sweep("ma_crossover", bars, config=cfg, memory_limit=2**40, **KW)
    pd.testing.assert_frame_equal(pd.read_parquet(out), full.table)
    assert f"table written to {out} ({len(full.table):,} rows)" in r.stdout and "top 10 by sharpe" in r.stdout


def test_sweep_top_keeps_best_k_when_top_given(store, cli):
    cfg, bars = store
    r = cli("sweep", "ma_crossover", *GRID, "--top", "4", "--metric", "sortino", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    full = sweep("ma_crossover", bars, config=cfg, memory_limit=2**40, **KW)
    best = rank_table(full.table, "sortino").head(4)
    assert doc["rows_kept"] == 4 and doc["combinations"] == len(full.table)
    assert [(t["fast"], t["slow"]) for t in doc["top"]] == list(zip(best["fast"], best["slow"]))
    assert doc["pbo_sample"].startswith("a random sample of 1,000 of ")


def test_sweep_prints_estimate_when_run_is_long(store, cli, monkeypatch):
    import peaktrade.cli.research_cmd as rc

    monkeypatch.setattr(rc, "LONG_SWEEP_SECONDS", 0.0)  # every run counts as long
    r = cli("sweep", "ma_crossover", "--grid", "fast=2:6", "--grid", "slow=10:20", "--json")
    assert r.exit_code == 0, r.stderr
    assert "estimate: ma_crossover: 40 combinations × 400 bars (table): ~" in r.stderr
    assert "(measured on 39 combinations of this grid)" in r.stderr  # one warm-up, then the rest of the grid
    json.loads(r.stdout)  # stdout stays the JSON document
