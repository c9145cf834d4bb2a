"""log_backtest against MLflow's real SQLite store: params, metrics, tags, artifacts."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peaktrade.data.schema import fingerprint
from peaktrade.reporting import load_result
from peaktrade.tracking import log_backtest


def test_log_backtest_when_store_is_fresh_then_params_metrics_tags_and_artifacts_are_recorded(
        tcfg, client, result, bars, artifacts_of):
    run_id = log_backtest(result, config=tcfg, symbol="BTC/USD", timeframe="1h")

    assert run_id is not None
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.experiment_id == client.get_experiment_by_name("peaktrade-test").experiment_id
    p = run.data.params
    assert (p["fast"], p["slow"]) == ("10", "40")
    assert p["backtest.fees"] == "0.001" and p["backtest.execution"] == "next_open" and p["backtest.init_cash"] == "10000.0"
    assert p["data.n_bars"] == str(len(bars))
    stats = result.stats()
    for key, value in stats.items():
        if math.isfinite(value):
            assert run.data.metrics[key] == pytest.approx(value, rel=1e-12)
    t = run.data.tags
    assert t["peaktrade.strategy"] == "ma_crossover"
    assert (t["peaktrade.symbol"], t["peaktrade.timeframe"]) == ("BTC/USD", "1h")
    assert t["peaktrade.data_fingerprint"] == fingerprint(bars)
    assert t["peaktrade.config_hash"] == tcfg.config_hash()
    assert t["peaktrade.environment"] == "research"
    assert t["peaktrade.kind"] == "backtest"
    assert t["peaktrade.version"]
    assert t["peaktrade.git_sha"] == "unknown" and t["peaktrade.git_dirty"] == "unknown"  # tmp root: no repo
    assert artifacts_of(run_id) == ["config/config.json", "report/report.html", "result/equity.parquet",
                                    "result/meta.json", "result/stats.json", "result/trades.parquet"]


def test_log_backtest_when_read_back_then_equity_trades_and_report_match_the_result(tcfg, client, result, tmp_path):
    run_id = log_backtest(result, config=tcfg)
    local = Path(client.download_artifacts(run_id, "", str(tmp_path / "dl")))
    saved = load_result(local / "result")
    pd.testing.assert_series_equal(saved.equity, result.equity, check_freq=False)
    pd.testing.assert_frame_equal(saved.trades, result.trades)
    assert saved.params == result.params and saved.strategy == "ma_crossover"
    html = (local / "report" / "report.html").read_text(encoding="utf-8")
    assert run_id in html and 'id="section-backtest"' in html
    cfg_json = json.loads((local / "config" / "config.json").read_text())
    assert cfg_json["tracking"]["experiment"] == "peaktrade-test"


def test_log_backtest_when_stats_are_not_finite_then_they_are_left_out_and_listed(tcfg, client, bars):
    from peaktrade.backtest import from_signals

    never = pd.Series(False, index=bars.index)
    flat = from_signals(bars["close"], never, never)  # no trades: several stats are NaN
    nonfinite = [k for k, v in flat.stats().items() if not math.isfinite(v)]
    assert nonfinite, "precondition: a flat backtest has non-finite stats"

    run_id = log_backtest(flat, config=tcfg, report=False)

    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert not set(nonfinite) & set(run.data.metrics)
    listed = dict(item.split("=") for item in run.data.tags["peaktrade.nonfinite_metrics"].split(";"))
    assert set(listed) == set(nonfinite)
    assert set(listed.values()) <= {"nan", "inf", "-inf"}
    assert run.data.metrics["n_trades"] == 0


def test_log_backtest_when_parent_is_given_then_the_run_is_nested(tcfg, client, result):
    parent = log_backtest(result, config=tcfg, report=False, run_name="parent")
    child = log_backtest(result, config=tcfg, report=False, parent_run_id=parent, run_name="child",
                         extra_tags={"purpose": "test"})
    tags = client.get_run(child).data.tags
    assert tags["mlflow.parentRunId"] == parent
    assert tags["purpose"] == "test"
    assert client.get_run(child).info.run_name == "child"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_log_backtest_when_project_root_is_a_git_repo_then_sha_and_dirty_flag_are_tagged(tcfg, client, result):
    root = tcfg.root
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    (root / "strategy_notes.txt").write_text("v1")
    for args in (["init", "-q"], ["add", "strategy_notes.txt"], ["commit", "-q", "-m", "init"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()

    clean = client.get_run(log_backtest(result, config=tcfg, report=False)).data.tags
    (root / "strategy_notes.txt").write_text("v2")
    dirty = client.get_run(log_backtest(result, config=tcfg, report=False)).data.tags

    assert clean["peaktrade.git_sha"] == sha == clean["mlflow.source.git.commit"]
    assert (clean["peaktrade.git_dirty"], dirty["peaktrade.git_dirty"]) == ("false", "true")


def test_log_backtest_when_given_not_a_result_then_it_raises_naming_the_argument(tcfg):
    from peaktrade.errors import PeakTradeError

    with pytest.raises(PeakTradeError, match="result is a ndarray"):
        log_backtest(np.zeros(3), config=tcfg)
