"""Every notebook runs with its defaults (papermill, a real kernel, offline, empty data directory)
and logs an MLflow run to the real SQLite store."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import papermill
import pytest
from helpers import notebook_source, research_notebooks

#: Every research notebook (discovered by its parameters; see tests/helpers.py), so a new one is run too.
NOTEBOOKS = research_notebooks()
#: The MLflow run kind each tracking call of a notebook logs.
_KIND_OF_CALL = {"log_backtest": "backtest", "log_sweep": "sweep", "log_walk_forward": "walk_forward",
                 "tracked_run": "run"}


def expected_kinds(path: Path) -> set[str]:
    """Return the run kinds ``path`` logs, read from the tracking calls in its code."""
    src = notebook_source(path)
    return {kind for call, kind in _KIND_OF_CALL.items() if re.search(rf"\b{call}\(", src)}


def test_expected_kinds_when_read_from_the_notebooks_then_every_research_notebook_logs_a_run():
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        assert expected_kinds(path), f"{path.name} makes no tracking call (log_backtest, log_sweep, ...)"


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
    assert expected_kinds(path) <= kinds
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all(r.data.tags.get("peaktrade.config_hash") == nb_cfg.config_hash() for r in runs)
