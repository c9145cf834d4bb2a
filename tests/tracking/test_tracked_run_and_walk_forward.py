"""tracked_run (generic notebook runs) and log_walk_forward."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from peaktrade.tracking import log_walk_forward, tracked_run


def test_tracked_run_when_body_logs_then_params_metrics_and_artifacts_are_recorded(tcfg, client, tmp_path,
                                                                                  artifacts_of):
    note = tmp_path / "note.md"
    note.write_text("# findings\n")
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    with tracked_run(config=tcfg, run_name="notebook 03", params={"window": 20}, tags={"notebook": "03"}) as run:
        run.log_params({"kind": "ema", "window": 20})  # same value again is fine
        run.log_metrics({"hit_rate": 0.53, "ratio": float("inf")})
        run.log_metrics({"loss": 0.2}, step=3)
        run.log_artifact(note)
        run.log_dataframe(frame, "frame")
        run.log_dataframe(frame, "frame.csv")

    r = client.get_run(run.run_id)
    assert r.info.status == "FINISHED" and r.info.run_name == "notebook 03"
    assert r.data.params == {"window": "20", "kind": "ema"}
    assert r.data.metrics["hit_rate"] == 0.53 and "ratio" not in r.data.metrics
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "loss")] == [(3, 0.2)]
    assert r.data.tags["peaktrade.nonfinite_metrics"] == "ratio=inf"
    assert r.data.tags["notebook"] == "03" and r.data.tags["peaktrade.kind"] == "run"
    assert artifacts_of(run.run_id) == ["config/config.json", "data/frame.csv", "data/frame.parquet", "note.md"]
    local = client.download_artifacts(run.run_id, "data/frame.parquet", str(tmp_path / "dl"))
    pd.testing.assert_frame_equal(pd.read_parquet(local), frame)


def test_tracked_run_when_nested_then_inner_run_has_the_outer_as_parent(tcfg, client):
    with tracked_run(config=tcfg, run_name="outer") as outer:
        with tracked_run(config=tcfg, run_name="inner", nested=True) as inner:
            pass
        with tracked_run(config=tcfg, run_name="sibling") as sibling:
            pass
    assert client.get_run(inner.run_id).data.tags["mlflow.parentRunId"] == outer.run_id
    assert "mlflow.parentRunId" not in client.get_run(sibling.run_id).data.tags


def test_tracked_run_when_body_raises_then_run_is_failed_and_the_error_propagates(tcfg, client):
    with pytest.raises(ZeroDivisionError):
        with tracked_run(config=tcfg, run_name="boom") as run:
            run.log_metrics({"before": 1.0})
            raise ZeroDivisionError("boom")
    r = client.get_run(run.run_id)
    assert r.info.status == "FAILED" and r.data.metrics["before"] == 1.0


def test_tracked_run_when_logging_a_backtest_then_it_becomes_a_child_run(tcfg, client, result):
    with tracked_run(config=tcfg, run_name="study") as run:
        child = run.log_backtest(result, report=False)
    assert client.get_run(child).data.tags["mlflow.parentRunId"] == run.run_id


def test_log_walk_forward_when_result_is_real_then_folds_oos_stats_and_equity_are_recorded(
        tcfg, client, bars, artifacts_of, tmp_path):
    from peaktrade.experiments import walk_forward

    wf = walk_forward("ma_crossover", bars, train=600, test=300, fast=[5, 10], slow=[30, 60], fees=0.001)
    run_id = log_walk_forward(wf, config=tcfg, symbol="BTC/USD", timeframe="1h", params={"train": 600, "test": 300})

    r = client.get_run(run_id)
    assert r.info.status == "FINISHED"
    assert r.data.tags["peaktrade.kind"] == "walk_forward" and r.data.tags["peaktrade.strategy"] == "ma_crossover"
    assert r.data.params["metric"] == "sharpe" and r.data.params["n_folds"] == str(len(wf.folds))
    assert r.data.params["train"] == "600" and r.data.params["backtest.fees"] == "0.001"
    assert r.data.metrics["oos_total_return"] == pytest.approx(wf.stats()["total_return"])
    history = client.get_metric_history(run_id, "fold.test_sharpe")
    assert [m.step for m in history] == list(range(len(wf.folds)))
    assert {"walk_forward/folds.parquet", "walk_forward/folds.csv", "walk_forward/oos_equity.parquet",
            "walk_forward/param_stability.csv", "report/report.html"} <= set(artifacts_of(run_id))
    local = client.download_artifacts(run_id, "walk_forward/oos_equity.parquet", str(tmp_path))
    pd.testing.assert_series_equal(pd.read_parquet(local).iloc[:, 0], wf.oos_equity, check_names=False,
                                   check_freq=False)
    html = Path(client.download_artifacts(run_id, "report/report.html", str(tmp_path))).read_text(encoding="utf-8")
    assert 'id="section-walk-forward"' in html and 'id="wf-folds-table"' in html
