"""Fixtures of the tracking tests: a real MLflow SQLite store per test, copied from one migrated
template per session (creating a store runs MLflow's migrations, several seconds)."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

# MLflow must not phone home from the tests; set before MLflow is imported.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return an empty, fully migrated MLflow SQLite database (created once per session: under pytest-xdist
    the first worker creates it in the session's shared temp dir, under a lock, and the others reuse it)."""
    from mlflow import MlflowClient

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the parent is this session's
    folder = shared / "mlflow-template"
    db, ready = folder / "mlruns.db", folder / "ready"
    with open(shared / "mlflow-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not ready.exists():  # (a worker that failed half-way left no "ready": start again)
            folder.mkdir(exist_ok=True)
            db.unlink(missing_ok=True)
            with pytest.MonkeyPatch.context() as mp:
                mp.chdir(folder)  # MLflow records ./mlruns of the cwd for its Default experiment
                MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
            ready.touch()
    return db


@pytest.fixture
def track_cfg(make_cfg: Callable[..., Any], mlflow_template: Path, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Return ``make(**sections)``: a test config whose tracking store is a fresh copy of the
    template in ``tmp_path`` (artifacts in ``tmp_path/art``); ``MLFLOW_TRACKING_URI`` is unset."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def make(**overrides: dict[str, Any]):
        db = tmp_path / "mlruns.db"
        if not db.exists():
            shutil.copyfile(mlflow_template, db)
        tracking = {"uri": f"sqlite:///{db}", "artifacts": str(tmp_path / "art"), **overrides.pop("tracking", {})}
        return make_cfg(tracking=tracking, **overrides)

    return make


@pytest.fixture
def tcfg(track_cfg: Callable[..., Any]):
    """A loaded test config with a fresh tracking store."""
    return track_cfg()


@pytest.fixture
def client(tcfg: Any):
    """An MLflow client on the test store (to read runs back)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tcfg.tracking.uri)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    """1,500 synthetic hourly bars (deterministic)."""
    from peaktrade.data import synthetic_bars

    return synthetic_bars(1500, seed=3)


@pytest.fixture(scope="module")
def result(bars: pd.DataFrame):
    """A backtest of ma_crossover on ``bars``."""
    from peaktrade.backtest import run

    return run("ma_crossover", bars, fees=0.001, fast=10, slow=40)


@pytest.fixture(scope="module")
def sweep_result(bars: pd.DataFrame):
    """A 4 × 3 sweep of ma_crossover on ``bars``."""
    from peaktrade.backtest import sweep

    # explicit costs: the re-runs of log_sweep must not depend on which config was loaded first
    return sweep("ma_crossover", bars, fees=0.001, slippage=0.0, fast=[5, 10, 15, 20], slow=[30, 40, 60])


def all_artifacts(client: Any, run_id: str, path: str | None = None) -> list[str]:
    """Return every artifact path of a run, recursively."""
    out: list[str] = []
    for info in client.list_artifacts(run_id, path):
        out += all_artifacts(client, run_id, info.path) if info.is_dir else [info.path]
    return sorted(out)


@pytest.fixture
def artifacts_of(client: Any) -> Callable[[str], list[str]]:
    """Return ``artifacts_of(run_id)``: every artifact path of a run."""
    return lambda run_id: all_artifacts(client, run_id)
