"""Issue 14 item 2: a sweep estimates its memory and time from combinations × bars before it runs, refuses
above its limit with one line, keeps the best K (``top=``) or streams every row to a file (``out=``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars

from peaktrade.backtest import SweepTooLarge, estimate_sweep, sweep
from peaktrade.backtest.sweep import rank_table
from peaktrade.config import AUTO_MEMORY_SHARE, SweepConfig, machine_memory
from peaktrade.errors import ConfigError
from peaktrade.experiments.overfitting import sweep_overfitting

GRID = {"fast": range(2, 30), "slow": range(10, 60), "fees": 0.001, "execution": "close"}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return random_bars(400, seed=3, vol=0.02)


@pytest.fixture(scope="module")
def full(bars):
    return sweep("ma_crossover", bars, **GRID)


def test_sweep_refuses_in_one_line_when_estimate_above_memory_limit(bars):
    # the grid (~50 million combinations): refused before a single combination is built
    with pytest.raises(SweepTooLarge) as e:
        sweep("ma_crossover", bars, fast=range(1, 10_000), slow=range(2, 10_000), memory_limit=8 * 2**30)
    msg = str(e.value)
    assert "\n" not in msg and isinstance(e.value, ValueError)
    assert "combinations × 400 bars would hold ~" in msg and "above the memory limit 8.0 GiB" in msg
    assert "--top K" in msg and "--out PATH.parquet" in msg
    est = e.value.estimate
    assert est.memory > est.limit == 8 * 2**30 and est.parts["result table"] > 8 * 2**30
    assert f"~{est.combinations:,} combinations" in msg and est.combinations == pytest.approx(9999 * 9998 / 2, rel=0.03)


def test_sweep_refusal_names_largest_part_when_top_cannot_shrink_it(bars):
    with pytest.raises(SweepTooLarge) as e:
        sweep("ma_crossover", bars, fast=range(1, 10_000), slow=range(2, 10_000), top=5, memory_limit=2**26)
    msg = str(e.value)
    assert "the largest part is indicator rows (" in msg and "narrow the grid" in msg and "--top K" not in msg


def test_estimate_counts_combinations_when_grid_small_or_sampled(bars, full):
    small = estimate_sweep("ma_crossover", bars, **GRID)
    assert small.exact and small.combinations == len(full.table) and small.grid_size == 28 * 50
    big = estimate_sweep("ma_crossover", bars, fast=range(1, 10_000), slow=range(2, 10_000))
    assert not big.exact and big.grid_size == 9999 * 9998
    assert big.combinations == pytest.approx(9999 * 9998 / 2, rel=0.03)  # fast < slow: about half
    # the whole table grows with the grid; top= keeps the memory bounded
    top = estimate_sweep("ma_crossover", bars, fast=range(1, 10_000), slow=range(2, 10_000), top=10)
    assert big.memory > 40 * 2**30 and top.memory < 2**30 and top.mode == "top"


def test_estimate_measures_time_when_calibrate_given(bars):
    est = estimate_sweep("ma_crossover", bars, calibrate=True, **GRID)
    assert est.rate_source.startswith("measured on 256 combinations") and est.rate > 0
    assert est.seconds == pytest.approx(est.combinations * est.n_bars / est.rate)
    assert "assumed" in estimate_sweep("ma_crossover", bars, **GRID).rate_source


def test_top_keeps_best_k_rows_when_top_given(bars, full):
    for metric, minimize in (("sharpe", False), ("max_drawdown", True)):
        top = sweep("ma_crossover", bars, top=7, metric=metric, minimize=minimize, memory_limit=2**21, **GRID)
        assert top.estimate.block < len(full.table)  # really ran in several blocks
        pd.testing.assert_frame_equal(top.table, rank_table(full.table, metric, minimize=minimize).head(7))
        assert top.n_combos == len(full.table)


def test_top_keeps_pbo_sample_when_top_given(bars, full):
    ok = (full.table["ruined"] != 1.0).to_numpy()
    top = sweep("ma_crossover", bars, top=5, pbo_sample=50, memory_limit=2**21, **GRID)
    assert top.part_sums.shape == (50, 16, 2)
    assert top.part_sample == f"a random sample of 50 of {ok.sum():,} non-ruined combinations (seed 0)"
    rows = {r.tobytes() for r in full.part_sums[ok]}
    assert all(r.tobytes() in rows for r in top.part_sums)  # real rows of the grid, each once
    assert len({r.tobytes() for r in top.part_sums}) == 50


def test_top_sweep_overfitting_equals_full_when_sample_holds_every_combination(bars):
    grid = {**GRID, "fast": range(2, 14)}  # 8 parts (70 splits): a quick CSCV
    full = sweep("ma_crossover", bars, n_parts=8, **grid)
    top = sweep("ma_crossover", bars, n_parts=8, top=3, pbo_sample=10**6, memory_limit=2**21, **grid)
    assert top.estimate.block < len(full.table)
    a, b = sweep_overfitting(full, bars), sweep_overfitting(top, bars)
    assert b["n_trials"] == a["n_trials"] == len(full.table)
    for k in ("dsr", "pbo", "trials_sharpe_variance", "sharpe"):
        assert b[k] == pytest.approx(a[k], rel=1e-9), k


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_out_streams_table_equal_to_in_memory_when_grid_above_memory_limit(bars, full, tmp_path, suffix):
    path = tmp_path / f"sweep.{suffix}"
    limit = 2**21
    assert estimate_sweep("ma_crossover", bars, **GRID).memory > limit  # the whole table would not fit
    with pytest.raises(SweepTooLarge):
        sweep("ma_crossover", bars, memory_limit=limit, **GRID)
    res = sweep("ma_crossover", bars, out=path, memory_limit=limit, **GRID)
    assert res.estimate.memory <= limit and res.estimate.block < len(full.table) and res.path == path
    written = pd.read_parquet(path) if suffix == "parquet" else pd.read_csv(path)
    pd.testing.assert_frame_equal(written, full.table.reset_index(drop=True), check_exact=suffix == "parquet")
    pd.testing.assert_frame_equal(res.table, rank_table(full.table, "sharpe").head(10))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_out_leaves_no_file_when_sweep_fails(bars, tmp_path, monkeypatch):
    import importlib

    sw = importlib.import_module("peaktrade.backtest.sweep")  # the module (the package exports the function)
    calls = []
    real = sw._run_block

    def failing(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk gone")
        return real(*a, **kw)

    monkeypatch.setattr(sw, "_run_block", failing)
    with pytest.raises(RuntimeError):
        sweep("ma_crossover", bars, out=tmp_path / "t.parquet", memory_limit=2**21, **GRID)
    assert list(tmp_path.iterdir()) == []


def test_memory_limit_when_auto_then_share_of_machine_memory():
    limit, source = SweepConfig().memory_limit()
    assert limit == int(machine_memory() * AUTO_MEMORY_SHARE) and "auto" in source
    assert SweepConfig(max_memory="512MiB").memory_limit() == (512 * 2**20, "[sweep] max_memory")
    assert SweepConfig(max_memory=10**9).memory_limit()[0] == 10**9


def test_config_rejects_max_memory_when_not_a_size(make_cfg):
    with pytest.raises(ConfigError, match=r"sweep.max_memory = 'lots' is invalid: expected a positive number"):
        make_cfg(sweep={"max_memory": "lots"})


def test_sweep_uses_config_limit_when_memory_limit_not_given(make_cfg, bars):
    cfg = make_cfg(sweep={"max_memory": "1MiB"})
    with pytest.raises(SweepTooLarge, match=r"above the memory limit 1.0 MiB \(\[sweep\] max_memory\)"):
        sweep("ma_crossover", bars, config=cfg, **GRID)
    assert np.isfinite(sweep("ma_crossover", bars, config=cfg, top=3, fast=range(2, 6), slow=(20, 30)).table["sharpe"]).all()
