"""``peaktrade optimize`` tracked: the study resumed from the project store and logged to the real MLflow store
(``log_optimize``): params, the DSR over every trial of the study, the trials table, the report."""

from __future__ import annotations

import json

import pandas as pd
import pytest


@pytest.fixture
def tracked_cfg(track_cfg):
    """A fresh copy of the migrated MLflow store; no child runs (test_log_sweep covers them)."""
    return track_cfg(tracking={"sweep_top_n": 0})


def test_optimize_when_run_twice_then_resumed_from_the_store_and_logged_with_the_dsr_of_every_trial(tracked_cfg,
                                                                                                      cli):
    from mlflow import MlflowClient

    argv = ("optimize", "ma_crossover", "--exchange", "synthetic", "--trials", "6", "--batch", "3", "--seed", "5",
            "--json")
    first = cli(*argv, "--no-track")  # MLflow once: the second run's parent holds the whole study
    assert first.exit_code == 0, first.stderr
    a = json.loads(first.stdout)
    assert a["mlflow_run_id"] is None
    second = cli(*argv)
    assert second.exit_code == 0, second.stderr
    b = json.loads(second.stdout)
    assert a["study"] == b["study"] == "ma_crossover BTC/USD 1h synthetic sharpe"
    assert b["storage"] == f"sqlite:///{tracked_cfg.data_dir / 'studies.sqlite'}"
    assert (a["n_trials"], b["trials_resumed"], b["n_trials"]) == (6, 6, 12)
    assert b["overfitting"]["n_trials"] == 12 and 0.0 <= b["dsr"] <= 1.0
    assert b["space"] == {"fast": "int 10..40", "slow": "int 50..200", "kind": "sma, ema"}

    client = MlflowClient(tracking_uri=tracked_cfg.tracking.uri)
    run = client.get_run(b["mlflow_run_id"])
    assert run.data.params["optimize.study"] == b["study"] and run.data.params["optimize.sampler"] == "tpe"
    assert run.data.params["space.fast"] == "int 10..40"
    assert run.data.metrics["n_trials"] == 12 and run.data.metrics["n_resumed"] == 6
    assert run.data.metrics["dsr"] == pytest.approx(b["dsr"], rel=1e-12)
    assert run.data.metrics["best_sharpe"] == pytest.approx(b["best"]["values"]["sharpe"], rel=1e-12)
    table = pd.read_parquet(client.download_artifacts(run.info.run_id, "sweep/table.parquet"))
    assert len(table) == 12 and list(table["trial"]) == list(range(12))
    html = open(client.download_artifacts(run.info.run_id, "report/report.html"), encoding="utf-8").read()
    assert "after 12 trials" in html  # the report's DSR reading counts every trial of the study


