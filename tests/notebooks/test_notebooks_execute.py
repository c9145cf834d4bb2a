"""Every notebook runs with its defaults (papermill, a real kernel, offline, empty data directory)
and logs an MLflow run to the real SQLite store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import papermill
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if p.stem < "60")  # 60: tests/live
KINDS = {"01-data-quality": "run", "10-backtest": "backtest", "20-sweep": "sweep",
         "30-walk-forward": "walk_forward", "40-robustness": "run"}


@pytest.fixture
def nb_cfg(make_cfg, tmp_path):
    return make_cfg(tracking={"uri": f"sqlite:///{tmp_path}/mlruns.db", "artifacts": str(tmp_path / "art")},
                    reports={"dir": str(tmp_path / "reports")})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_with_defaults_and_logs_mlflow_run(path, nb_cfg, tmp_path):
    assert not nb_cfg.data_dir.exists()  # empty data directory: the embedded data set is generated
    out = tmp_path / f"{path.stem}.out.ipynb"
    papermill.execute_notebook(str(path), str(out), kernel_name="python3", cwd=str(path.parent),
                               progress_bar=False, execution_timeout=300)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    exp = client.get_experiment_by_name(nb_cfg.tracking.experiment)
    runs = client.search_runs([exp.experiment_id])
    kinds = {r.data.tags.get("peaktrade.kind") for r in runs}
    assert KINDS[path.stem] in kinds
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all(r.data.tags.get("peaktrade.config_hash") == nb_cfg.config_hash() for r in runs)
