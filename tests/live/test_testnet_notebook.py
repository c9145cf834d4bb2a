"""The scheduled testnet notebook: one typed parameters cell (profile, duration, mode, ...), outputs
stripped, and it runs with its defaults offline (in-process simulator) through papermill, writing a
run log and an MLflow run."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import papermill
from testnet_helpers import write_testnet_config

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "60-testnet-session.ipynb"
LINE = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*): (?P<type>str|int|float|bool|dict|list) = (?P<default>.+?)  # (?P<help>[^=]+)$")


def test_notebook_when_inspected_then_one_typed_parameters_cell_and_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    for ln in filter(str.strip, cells[0].source.splitlines()):
        m = LINE.match(ln)
        assert m, ln
        assert type(eval(m["default"], {})).__name__ == m["type"]  # noqa: S307 — our literal defaults
    declared = papermill.inspect_notebook(str(NOTEBOOK))
    assert {"profile", "duration", "mode"} <= set(declared)
    assert all(not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code")


def test_notebook_when_run_with_defaults_then_offline_session_run_log_and_mlflow_run(tmp_path, clean_env):
    import mlflow

    path = write_testnet_config(tmp_path, profiles={
        "sma-btc-1m": {"strategy": "ma_crossover", "parameters": {"fast": 3, "slow": 8}, "symbol": "BTC/USD",
                       "timeframe": "1m", "duration": 60.0, "max_notional": 100.0, "max_trades": 10}})
    clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(path))
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), kernel_name="python3", cwd=str(tmp_path),
                               progress_bar=False, execution_timeout=300)
    runs_dir = tmp_path / "runs"
    assert [p for p in runs_dir.iterdir() if "testnet" in p.name]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns.db'}")
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    assert any(r.data.tags.get("peaktrade.environment") == "testnet" and r.info.status == "FINISHED" for r in runs)
