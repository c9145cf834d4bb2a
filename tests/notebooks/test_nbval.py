"""nbval over notebooks/: every notebook runs top to bottom, cell by cell, on a real kernel with its default
parameters (lax mode: the notebooks are committed without outputs, see test_notebook_contracts.py, so there
is no stored output to compare; a cell that raises fails the run).

nbval runs in a subprocess with the test config (small synthetic data set, temp MLflow store, reports and
run logs), so it never writes to the project's own store."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from helpers import NOTEBOOKS, REPO_ROOT


def test_nbval_when_notebooks_run_with_defaults_then_every_cell_passes(make_cfg, tmp_path):
    make_cfg(tracking={"uri": f"sqlite:///{tmp_path}/mlruns.db", "artifacts": str(tmp_path / "art")},
             reports={"dir": str(tmp_path / "reports")}, runs={"dir": str(tmp_path / "runs")})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                        "--nbval-cell-timeout=600", "--rootdir", str(tmp_path), *map(str, NOTEBOOKS)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", r.stdout)[1])
    cells = sum(1 for p in NOTEBOOKS for c in __import__("nbformat").read(p, as_version=4).cells
                if c.cell_type == "code")
    assert passed == cells and "failed" not in r.stdout.splitlines()[-1]  # every code cell of every notebook
    assert any((tmp_path / "reports").glob("*.html"))  # the run wrote to the test config's dirs
