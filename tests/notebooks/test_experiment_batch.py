"""``peaktrade experiment run``: papermill batch with a real kernel, MLflow parent + child runs,
failures reported with the failing cell, the others carried on, non-zero exit."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def batch_cfg(make_cfg, tmp_path):
    return make_cfg(tracking={"uri": f"sqlite:///{tmp_path}/mlruns.db", "artifacts": str(tmp_path / "art")},
                    reports={"dir": str(tmp_path / "reports")})


def _spec(tmp_path: Path, strategies: list[str]) -> Path:
    (tmp_path / "experiments").mkdir(exist_ok=True)
    spec = tmp_path / "experiments" / "t.toml"
    runs = "".join(f'[[runs]]\nstrategy = "{s}"\n' for s in strategies)
    spec.write_text(f'name = "t"\nnotebook = "{ROOT / "notebooks" / "10-backtest.ipynb"}"\n'
                    '[data]\nexchange = "synthetic"\n[parameters]\nfees = 0.001\n' + runs)
    return spec


def _runs(tmp_path, cfg):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    return client, client.search_runs([exp.experiment_id])


def test_batch_runs_every_set_and_tracks_parent_and_children_when_all_succeed(batch_cfg, cli, tmp_path):
    r = cli("experiment", "run", str(ROOT / "experiments" / "demo.toml"), "--parallel", "2",
            "--out", str(tmp_path / "out"))
    assert r.exit_code == 0, r.stderr
    executed = sorted((tmp_path / "out").glob("*.ipynb"))
    assert len(executed) == 2
    client, runs = _runs(tmp_path, batch_cfg)
    by_kind = {}
    for run in runs:
        by_kind.setdefault(run.data.tags.get("peaktrade.kind"), []).append(run)
    (parent,) = by_kind["batch"]
    nb_runs = by_kind["notebook"]
    assert len(nb_runs) == 2 and all(x.data.tags["mlflow.parentRunId"] == parent.info.run_id for x in nb_runs)
    assert {x.data.params["fees"] for x in nb_runs} == {"0.001", "0.0026"}
    for x in nb_runs:
        assert [a.path for a in client.list_artifacts(x.info.run_id, "notebook")]
        sweeps = [s for s in by_kind["sweep"] if s.data.tags["mlflow.parentRunId"] == x.info.run_id]
        assert len(sweeps) == 1 and "dsr" in sweeps[0].data.metrics and "pbo" in sweeps[0].data.metrics
    assert parent.data.metrics["n_ok"] == 2 and parent.data.metrics["n_failed"] == 0


def test_batch_reports_failing_cell_and_carries_on_when_one_run_fails(batch_cfg, cli, tmp_path):
    r = cli("experiment", "run", str(_spec(tmp_path, ["nope", "ma_crossover"])), "--out", str(tmp_path / "out"))
    assert r.exit_code == 1
    assert "run 0 failed" in r.stderr and "unknown strategy 'nope'" in r.stderr
    assert "result = run(strategy, bars" in r.stderr  # the failing cell's source
    _, runs = _runs(tmp_path, batch_cfg)
    status = {x.data.params.get("strategy"): x.info.status for x in runs if x.data.tags.get("peaktrade.kind") == "notebook"}
    assert status == {"nope": "FAILED", "ma_crossover": "FINISHED"}
    assert any(x.data.tags.get("peaktrade.kind") == "backtest" for x in runs)


def test_dry_run_executes_nothing(batch_cfg, cli, tmp_path):
    r = cli("experiment", "run", str(ROOT / "experiments" / "btc-ma-sweep.toml"), "--dry-run")
    assert r.exit_code == 0 and "4 run(s) of 20-sweep.ipynb" in r.stdout
    assert not (tmp_path / "mlruns.db").exists()
