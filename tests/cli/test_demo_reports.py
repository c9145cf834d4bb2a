"""``peaktrade demo`` through the real CLI in a subprocess (the kernels write to its terminal): it ends with the
paths of exactly the reports it made, each named by the run id it printed, and no kernel noise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from helpers import REPO_ROOT

#: What the kernels printed on a successful demo before (ipykernel, jupyter_client's shutdown, debugpy).
KERNEL_NOISE = ("IPKernelApp", "without encryption", "KeyboardInterrupt", "Debugger warning", "frozen modules")


def test_demo_when_it_succeeds_then_it_ends_with_the_reports_it_made_and_no_kernel_noise(make_cfg, tmp_path, cli):
    cfg = make_cfg(tracking={"uri": f"sqlite:///{tmp_path}/mlruns.db", "artifacts": str(tmp_path / "art")},
                   reports={"dir": str(tmp_path / "reports")}, runs={"dir": str(tmp_path / "runs")})
    older = cfg.reports_dir / "0123456789abcdef0123456789abcdef-backtest-ma_crossover-BTC-USD-1h.html"
    older.parent.mkdir(parents=True)
    older.write_text("<html>an earlier run</html>")  # the newest-files listing of before would not tell them apart
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "peaktrade.cli.main", "demo"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    for noise in KERNEL_NOISE:
        assert noise not in r.stdout and noise not in r.stderr, f"{noise!r} printed:\n{r.stderr[-3000:]}"
    lines = r.stdout.rstrip().splitlines()
    reported = [Path(ln.removeprefix("report: ")) for ln in lines if ln.startswith("report: ")]
    assert reported and lines[-len(reported):] == [f"report: {p}" for p in reported]  # the closing lines
    made = set(cfg.reports_dir.glob("*.html")) - {older}
    assert sorted(reported) == sorted(made) and len(made) == 4  # 2 backtests + 2 sweeps, all of them, only them
    run_ids = re.findall(r"MLflow run ([0-9a-f]{32}), notebook ", r.stdout)
    assert len(run_ids) == 4
    assert sorted(p.name[:32] for p in reported) == sorted(run_ids)  # each report named by its run's id
    for p in reported:
        assert "data: synthetic (SYNTHETIC" in p.read_text(encoding="utf-8")
    # the notebooks' tracked backtests and sweeps (children of the printed runs) are labelled with their data
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    logged = [run for e in client.search_experiments() for run in client.search_runs([e.experiment_id])
              if run.data.tags.get("peaktrade.kind") in ("backtest", "sweep")]
    assert len(logged) == 4 and {run.data.tags.get("peaktrade.exchange") for run in logged} == {"synthetic"}
    # ids and paths whole on one line each, never wrapped or cut mid-word
    assert all(f"notebook {o}" in r.stdout for o in re.findall(r"notebook (\S+\.ipynb)", r.stdout))
    assert "…" not in r.stdout
    assert "data quality" in r.stdout and "peaktrade mlflow ui" in r.stdout and any(cfg.data_dir.rglob("*.parquet"))
    # the printed notebook run ids are accepted by a 6-character prefix and lead to the run's report
    for rid in run_ids:
        got = cli("report", rid[:6])
        assert got.exit_code == 0, got.stderr
        assert Path(got.stdout.strip()).name.startswith(rid) and Path(got.stdout.strip()) in made
