"""``peaktrade optimize`` end to end: the study resumed from the project store, logged to a real MLflow store."""

from __future__ import annotations

import json

import pandas as pd
import pytest


@pytest.fixture
def tracked_cfg(make_cfg, tmp_path, monkeypatch):
    """The test config with a fresh MLflow SQLite store in ``tmp_path`` and no child runs (log_sweep tests them)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return make_cfg(tracking={"uri": f"sqlite:///{tmp_path / 'mlruns.db'}", "artifacts": str(tmp_path / "art"),
                              "sweep_top_n": 0})


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


def test_optimize_when_tracking_off_then_text_summary_names_the_dsr_and_the_study(cfg, cli):
    r = cli("optimize", "ma_crossover", "--exchange", "synthetic", "--trials", "4", "--batch", "4", "--no-track",
            "--grid", "fast=5:30:5", "--param", "kind=ema", "--study", "text")
    assert r.exit_code == 0, r.stderr
    assert "study 'text'" in r.stdout and "4 evaluated in all" in r.stdout
    assert "after 4 trials" in r.stdout and "best by sharpe: trial #" in r.stdout
    assert "search space: fast=int 5..25 step 5, slow=int 50..200" in r.stdout


@pytest.mark.parametrize("extra,needle", [
    (["--sampler", "grid"], "--sampler 'grid' is invalid: expected one of tpe, nsga2, random"),
    (["--objective", "luck"], "--objective 'luck' is invalid: expected one or more distinct metrics, comma separated, "
                              "of sharpe, sortino, calmar"),
    (["--objective", "max_drawdown"], "expected one to maximize"),
    (["--trials", "0"], "--trials 0 is invalid: expected an integer >= 1"),
    (["--grid", "fast=5:30", "--param", "fast=10"], "conflicts with --grid fast"),
])
def test_optimize_when_input_bad_then_one_line_error_naming_the_accepted_values(cfg, cli, extra, needle):
    argv = ["optimize", "ma_crossover", "--exchange", "synthetic", "--trials", "2", "--no-track", *extra]
    if "--trials" in extra:
        argv[4:6] = []
    r = cli(*argv)
    assert r.exit_code == 2
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
