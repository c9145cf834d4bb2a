"""nbval over notebooks/: every notebook runs top to bottom, cell by cell, on a real kernel with its default
parameters (lax mode: the notebooks are committed without outputs, see test_notebook_contracts.py, so there
is no stored output to compare; a cell that raises fails the run).

nbval runs in a subprocess with the test config (small synthetic data set, temp MLflow store, reports and
run logs; every [risk] limit set and a short testnet profile, so 60-testnet-session runs offline against its
in-process simulator, as tests/live/test_testnet_notebook.py runs it), never the project's own store."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import nbformat
from helpers import NOTEBOOKS, REPO_ROOT

#: Every [risk] limit (testnet refuses to start without them), loose enough never to deny the short session.
RISK = {"max_order_notional": 100000.0, "max_position_notional": 100000.0, "max_total_exposure": 100000.0,
        "max_open_positions": 2, "max_daily_loss_pct": 90.0, "max_orders_per_minute": 1000}


def test_nbval_when_notebooks_run_with_defaults_then_every_cell_passes(make_cfg, tmp_path):
    make_cfg(tracking={"uri": f"sqlite:///{tmp_path}/mlruns.db", "artifacts": str(tmp_path / "art")},
             reports={"dir": str(tmp_path / "reports")}, runs={"dir": str(tmp_path / "runs")},
             safety={"state_dir": str(tmp_path / "state")}, risk=RISK, testnet={"budget_db": str(tmp_path / "b.db")},
             **{'testnet.profiles."sma-btc-1m"': {
                 "strategy": "ma_crossover", "parameters": {"fast": 3, "slow": 8}, "symbol": "BTC/USD",
                 "timeframe": "1m", "duration": 60.0, "max_notional": 100.0, "max_trades": 10}})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                        "--nbval-cell-timeout=600", "--rootdir", str(tmp_path), *map(str, NOTEBOOKS)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", r.stdout)[1])
    cells = sum(1 for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
    assert passed == cells and "failed" not in r.stdout.splitlines()[-1]  # every code cell of every notebook
    assert any((tmp_path / "reports").glob("*.html"))  # the run wrote to the test config's dirs
