"""Review of issue 13: tracked runs and their reports say where the bars come from (an exchange or the
generated ``synthetic`` data), and the Python API takes a run id prefix with one-line errors; against MLflow's
real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peaktrade.errors import PeakTradeError
from peaktrade.tracking import artifact_files, log_backtest, log_sweep, log_walk_forward, report_for_run, run_url

SYNTHETIC_LABEL = "data: synthetic (SYNTHETIC: generated bars, not market prices)"


def _html(client, run_id: str, path: str, tmp_path: Path) -> str:
    return Path(client.download_artifacts(run_id, path, str(tmp_path / run_id))).read_text(encoding="utf-8")


def test_log_backtest_when_exchange_given_then_tagged_in_meta_and_labelled_in_report(tcfg, client, result, tmp_path):
    run_id = log_backtest(result, config=tcfg, symbol="BTC/USD", timeframe="1h", exchange="synthetic")
    run = client.get_run(run_id)
    assert run.data.tags["peaktrade.exchange"] == "synthetic"
    meta = json.loads(_html(client, run_id, "result/meta.json", tmp_path))
    assert meta["exchange"] == "synthetic"
    assert SYNTHETIC_LABEL in _html(client, run_id, "report/report.html", tmp_path)


def test_report_for_run_when_rebuilt_from_result_then_labelled_with_the_exchange(tcfg, result, tmp_path):
    run_id = log_backtest(result, config=tcfg, symbol="BTC/USD", timeframe="1h", exchange="kraken", report=False)
    html = report_for_run(run_id, config=tcfg, out=tmp_path / "rebuilt.html").read_text(encoding="utf-8")
    assert "data: kraken" in html and "SYNTHETIC" not in html


def test_log_sweep_when_exchange_given_then_parent_children_and_report_carry_it(tcfg, client, bars, tmp_path):
    from peaktrade.backtest import sweep

    sw = sweep("ma_crossover", bars, fast=[5, 10], slow=[30, 60], fees=0.001)
    pid = log_sweep(sw, config=tcfg, top_n=1, bars=bars, symbol="BTC/USD", timeframe="1h", exchange="synthetic")
    assert client.get_run(pid).data.tags["peaktrade.exchange"] == "synthetic"
    child = client.search_runs([client.get_run(pid).info.experiment_id],
                               filter_string=f"tags.mlflow.parentRunId = '{pid}'")[0]
    assert child.data.tags["peaktrade.exchange"] == "synthetic"
    assert SYNTHETIC_LABEL in _html(client, pid, "report/report.html", tmp_path)
    assert SYNTHETIC_LABEL in _html(client, child.info.run_id, "report/report.html", tmp_path)


def test_log_walk_forward_when_exchange_given_then_tagged_and_labelled_in_report(tcfg, client, bars, tmp_path):
    from peaktrade.experiments.walk_forward import walk_forward

    wf = walk_forward("ma_crossover", bars, train=600, test=300, fast=[5, 10], slow=[30, 60], fees=0.001)
    run_id = log_walk_forward(wf, config=tcfg, symbol="BTC/USD", timeframe="1h", exchange="kraken")
    assert client.get_run(run_id).data.tags["peaktrade.exchange"] == "kraken"
    assert "data: kraken" in _html(client, run_id, "report/report.html", tmp_path)


def test_run_url_and_artifact_files_when_given_a_prefix_then_the_run_it_names(tcfg, client, result):
    run_id = log_backtest(result, config=tcfg, report=False)
    exp = client.get_run(run_id).info.experiment_id
    assert run_url(run_id[:8], config=tcfg).endswith(f"/#/experiments/{exp}/runs/{run_id}")
    assert "result/meta.json" in artifact_files(run_id[:8], config=tcfg)


@pytest.mark.parametrize("call", [run_url, artifact_files], ids=["run_url", "artifact_files"])
@pytest.mark.parametrize("ref", ["0123456789abcdef", "f" * 32], ids=["prefix", "whole-id"])
def test_run_refs_when_no_such_run_then_one_line_peaktrade_error(tcfg, result, call, ref):
    log_backtest(result, config=tcfg, report=False)  # the store exists, the run does not
    with pytest.raises(PeakTradeError) as e:
        call(ref, config=tcfg)
    assert "\n" not in str(e.value) and ref[:8] in str(e.value)


def test_tracked_run_when_exchange_given_then_tagged(tcfg, client):
    from peaktrade.tracking import tracked_run

    with tracked_run(config=tcfg, exchange="synthetic") as run:
        pass
    assert client.get_run(run.run_id).data.tags["peaktrade.exchange"] == "synthetic"
