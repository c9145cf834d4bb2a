"""log_sweep: a parent run with the table and summary, child runs for the top combinations."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from peaktrade.errors import PeakTradeError
from peaktrade.tracking import log_sweep


def _children(client, parent_id: str):
    exp = client.get_run(parent_id).info.experiment_id
    runs = client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")
    return sorted(runs, key=lambda r: int(r.data.tags["peaktrade.rank"]))


def test_log_sweep_when_top_n_is_given_then_parent_holds_the_table_and_children_the_best_rows(
        tcfg, client, sweep_result, artifacts_of, tmp_path):
    pid = log_sweep(sweep_result, config=tcfg, top_n=3, symbol="BTC/USD", timeframe="1h",
                    overfitting=pd.Series({"dsr": 0.42, "pbo": float("nan")}))

    parent = client.get_run(pid)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["peaktrade.kind"] == "sweep"
    p = parent.data.params
    assert p["fast"] == "[5, 10, 15, 20]" and p["slow"] == "[30, 40, 60]"
    table = sweep_result.table
    best = table.loc[table["sharpe"].idxmax()]
    assert (p["best.fast"], p["best.slow"]) == (str(int(best["fast"])), str(int(best["slow"])))
    m = parent.data.metrics
    assert m["n_combinations"] == len(table) == 12
    assert m["n_skipped"] == sweep_result.n_skipped
    assert m["best_sharpe"] == pytest.approx(table["sharpe"].max())
    assert m["elapsed_s"] == pytest.approx(sweep_result.elapsed)
    assert m["dsr"] == 0.42 and "pbo" not in m
    assert parent.data.tags["peaktrade.nonfinite_metrics"] == "pbo=nan"
    assert {"sweep/table.parquet", "sweep/table.csv", "report/report.html"} <= set(artifacts_of(pid))
    local = Path(client.download_artifacts(pid, "sweep/table.parquet", str(tmp_path)))
    pd.testing.assert_frame_equal(pd.read_parquet(local), table)

    kids = _children(client, pid)
    assert len(kids) == 3
    top = table.sort_values("sharpe", ascending=False).head(3)
    for kid, (_, row) in zip(kids, top.iterrows()):
        assert kid.data.tags["peaktrade.kind"] == "sweep_child"
        assert kid.data.params["fast"] == str(int(row["fast"])) and kid.data.params["slow"] == str(int(row["slow"]))
        assert kid.data.metrics["sharpe"] == pytest.approx(row["sharpe"])
        assert kid.data.metrics["total_return"] == pytest.approx(row["total_return"])
        assert kid.info.status == "FINISHED"


def test_log_sweep_when_bars_are_given_then_children_are_rerun_with_trades_equity_and_report(
        tcfg, client, sweep_result, bars, artifacts_of):
    pid = log_sweep(sweep_result, config=tcfg, top_n=2, bars=bars, options={"fees": 0.001})

    kids = _children(client, pid)
    assert len(kids) == 2
    for kid in kids:
        files = set(artifacts_of(kid.info.run_id))
        assert {"result/equity.parquet", "result/trades.parquet", "report/report.html"} <= files
        assert kid.data.tags["peaktrade.rerun_matches_table"] == "true"
        assert kid.data.params["backtest.fees"] == "0.001"
    parent_html = Path(client.download_artifacts(pid, "report/report.html"))
    html = parent_html.read_text(encoding="utf-8")
    assert 'id="section-sweep"' in html and 'id="section-backtest"' in html  # best combination re-run


def test_log_sweep_when_top_n_defaults_then_config_sweep_top_n_children_are_logged(track_cfg, client, sweep_result):
    cfg = track_cfg(tracking={"sweep_top_n": 1})
    pid = log_sweep(sweep_result, config=cfg, report=False)
    assert len(_children(client, pid)) == 1


def test_log_sweep_when_top_n_is_zero_then_only_the_parent_is_logged(tcfg, client, sweep_result):
    pid = log_sweep(sweep_result, config=tcfg, top_n=0, report=False)
    assert pid is not None and _children(client, pid) == []


def test_log_sweep_when_metric_is_unknown_then_it_raises_naming_the_metric(tcfg, sweep_result):
    with pytest.raises(PeakTradeError, match="metric='nope'"):
        log_sweep(sweep_result, config=tcfg, metric="nope")


def test_log_sweep_when_no_combination_is_finite_then_parent_is_logged_without_best(tcfg, client, sweep_result):
    empty = type(sweep_result)(table=sweep_result.table.assign(sharpe=math.nan), strategy=sweep_result.strategy,
                               grid=sweep_result.grid)
    pid = log_sweep(empty, config=tcfg, top_n=3, report=False)
    run = client.get_run(pid)
    assert run.data.metrics["n_finite"] == 0 and "best_sharpe" not in run.data.metrics
    assert _children(client, pid) == []


def test_log_sweep_when_overfitting_has_a_pbo_then_null_mean_metric_and_convention_tag(tcfg, client, sweep_result):
    pid = log_sweep(sweep_result, config=tcfg, top_n=0, overfitting=pd.Series({"dsr": 0.42, "pbo": 0.25}))
    parent = client.get_run(pid)
    assert parent.data.metrics["pbo"] == 0.25
    assert parent.data.metrics["pbo_null_mean"] == 0.5  # N = 12 combinations: even
    tag = parent.data.tags["peaktrade.pbo_convention"]
    assert "CSCV" in tag and "N=12" in tag and "S=16" in tag and "null mean 0.5 for even N=12" in tag
    assert "peaktrade.nonfinite_metrics" not in parent.data.tags
