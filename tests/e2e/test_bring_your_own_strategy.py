"""Issue 12's "Done when": from a clean project, write a strategy with ``peaktrade strategies new`` and run
it through backtest → sweep → walk-forward → an experiment spec (papermill + MLflow, notebook 05) → paper replay (trade
for trade the backtest) → a testnet session against the local simulator, all through the real CLI (the
venv's ``peaktrade`` in a subprocess whose working directory is the project).

The project is what a clone holds that these commands read: ``pyproject.toml`` (marks the project root),
``config/config.toml`` (the test config with every path inside the project, all risk limits and a testnet
profile naming the new strategy), ``notebooks/`` and an empty ``strategies/`` folder. The data is the
embedded synthetic demo set (2,000 hourly bars, generated into the project's store on first use).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tests" / "live"))
from testnet_helpers import write_testnet_config  # noqa: E402

from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET  # noqa: E402

PEAKTRADE = Path(sys.executable).with_name("peaktrade")
PARAMS = {"fast": 10, "slow": 50}
COSTS = {"fees": 0.001, "slippage": 0.0005}
#: The paper replay and its backtest end here (exclusive): the first 60 days of the demo data.
REPLAY_END = "2020-03-01"


@pytest.fixture
def project(tmp_path, clean_env):
    """A fresh project directory; returns ``(root, sh)`` where ``sh(*argv)`` runs the CLI in it."""
    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    (root / "strategies").mkdir()
    (root / "experiments").mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(REPO_ROOT / "notebooks", root / "notebooks")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["COLUMNS"] = "400"  # rich tables unwrapped: one line per row
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)

    def sh(*argv: str, ok: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([str(PEAKTRADE), *argv], cwd=root, env=env, capture_output=True, text=True,
                           timeout=timeout)
        if ok:
            assert r.returncode == 0, f"peaktrade {' '.join(argv)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        return r

    return root, sh


def write_config(root: Path, *, sim_url: str) -> None:
    """The project's config/config.toml: paths inside the project, risk limits, a testnet profile of my_strat."""
    profile = {"strategy": "my_strat", "parameters": {"fast": 2, "slow": 10}, "symbol": "BTC/USD",
               "timeframe": "1m", "duration": 60.0, "max_notional": 5000.0, "max_trades": 20}
    path = write_testnet_config(root, testnet={"mode": "kraken-sim", "sim_url": sim_url},
                                profiles={"mine": profile})
    path.replace(root / "config" / "config.toml")


def stats(sh, *argv: str) -> dict[str, float]:
    """The statistics ``peaktrade backtest ... --json`` prints (raw numbers)."""
    return json.loads(sh("backtest", *argv, "--json").stdout)["stats"]


def tracked_runs(root: Path):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlruns.db'}")
    return client, [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]


def project_config(root: Path):
    from peaktrade.config import load_config

    return load_config(root / "config" / "config.toml")


def api_backtest(root: Path, *, end: str | None = None):
    """The Python API's backtest of the project's my_strat (what the CLI steps are compared with)."""
    from peaktrade.backtest import run
    from peaktrade.data import load_bars
    from peaktrade.strategies import get_strategy

    cfg = project_config(root)
    bars = load_bars("BTC/USD", "1h", exchange="synthetic", end=end, config=cfg)
    return run(get_strategy("my_strat", config=cfg), bars, **COSTS, **PARAMS)


@pytest.fixture
def sim_server():
    import peaktrade.sim as sim

    ex = sim.SimExchange(keys={DEFAULT_SIM_API_KEY: DEFAULT_SIM_API_SECRET}, seed=5, speed=0.0, tier="pro")
    with sim.serve_in_thread(ex) as srv:
        yield srv


def test_user_strategy_when_written_by_strategies_new_then_runs_from_backtest_to_testnet(project, sim_server):
    root, sh = project
    write_config(root, sim_url=sim_server.url)

    # -- strategies new: a pandas-level template that the registry lists as a file strategy -----------------
    r = sh("strategies", "new", "my_strat")
    assert (root / "strategies" / "my_strat.py").is_file() and "pandas level" in r.stdout
    listed = sh("strategies", "list").stdout
    assert any("my_strat" in ln and str(root / "strategies" / "my_strat.py") in ln for ln in listed.splitlines()), listed

    # -- backtest: the CLI's numbers are the Python API's ------------------------------------------------------
    cost_args = ["--fees", str(COSTS["fees"]), "--slippage", str(COSTS["slippage"])]
    param_args = [a for k, v in PARAMS.items() for a in ("--param", f"{k}={v}")]
    bt = stats(sh, "my_strat", "--exchange", "synthetic", *param_args, *cost_args)
    full = api_backtest(root)
    n_trades = bt["n_trades"]
    assert n_trades == len(full.trades) > 5
    assert bt["final_equity"] == pytest.approx(full.equity.iloc[-1], abs=0.01)

    # -- sweep with a grid: four rows, the backtested combination's row equal to the backtest -----------------
    sh("sweep", "my_strat", "--exchange", "synthetic", "--grid", "fast=10,20", "--grid", "slow=50,100",
       *cost_args, "--out", "sweep.csv")
    table = pd.read_csv(root / "sweep.csv")
    assert sorted(zip(table["fast"], table["slow"])) == [(10, 50), (10, 100), (20, 50), (20, 100)]
    row = table[(table["fast"] == 10) & (table["slow"] == 50)].iloc[0]
    assert row["n_trades"] == n_trades
    assert row["total_return"] == pytest.approx(full.stats()["total_return"], rel=1e-9, abs=1e-12)

    # -- walk-forward through the CLI: folds on the declared grid, stitched out-of-sample stats as JSON --------
    wf = json.loads(sh("walk-forward", "my_strat", "--exchange", "synthetic", "--train", "20D", "--test", "10D",
                       "--grid", "fast=10,20", "--grid", "slow=50,100", *cost_args, "--json").stdout)
    assert wf["strategy"] == "my_strat" and len(wf["folds"]) >= 2, wf
    assert {(f["fast"], f["slow"]) for f in wf["folds"]} <= {(10, 50), (10, 100), (20, 50), (20, 100)}
    assert wf["stats"]["n_trades"] >= 1

    # -- an experiment spec naming my_strat: notebook 05 run by a papermill kernel, logged to MLflow ----------
    (root / "experiments" / "my-strat.toml").write_text(
        'name = "my-strat"\nnotebook = "notebooks/05-write-a-strategy.ipynb"\n'
        '[data]\nexchange = "synthetic"\n'
        '[parameters]\nstrategy = "my_strat"\nparams = { fast = 10, slow = 50 }\n'
        'grid = { fast = "10,20", slow = "50,100" }\nfees = 0.001\nslippage = 0.0005\n')
    out = sh("experiment", "run", "experiments/my-strat.toml", "--out", "executed-my-strat").stdout
    assert "lookahead check of my_strat: passed" in out and "FAILED" not in out
    assert len(list((root / "executed-my-strat").glob("*.ipynb"))) == 1
    _, runs = tracked_runs(root)
    mine = [x for x in runs if x.data.tags.get("peaktrade.strategy") == "my_strat"]
    kinds = {x.data.tags.get("peaktrade.kind") for x in mine}
    assert {"backtest", "sweep"} <= kinds, kinds
    notebooks = [x for x in runs if x.data.tags.get("peaktrade.kind") == "notebook"]
    assert len(notebooks) == 1 and notebooks[0].info.status == "FINISHED"
    (nb_backtest,) = [x for x in mine if x.data.tags.get("peaktrade.kind") == "backtest"]
    assert nb_backtest.data.metrics["n_trades"] == n_trades  # the notebook's backtest is the CLI's
    assert nb_backtest.data.metrics["total_return"] == pytest.approx(full.stats()["total_return"], rel=1e-9)

    # -- paper replay: the run's trades are the backtest's, trade for trade -----------------------------------
    bt_part = stats(sh, "my_strat", "--exchange", "synthetic", "--end", REPLAY_END, *param_args, *cost_args)
    part = api_backtest(root, end=REPLAY_END)
    assert bt_part["n_trades"] == len(part.trades)
    paper = sh("paper", "run", "--strategy", "my_strat", "--exchange", "synthetic", *param_args, *cost_args,
               "--replay", f":{REPLAY_END}", "--quiet").stdout
    assert "completed" in paper
    run_dir = Path(re.search(r"run log\s+(\S+)", paper)[1])
    ledger = pd.read_parquet(run_dir / "trades.parquet")
    closed = part.trades[~part.trades["is_open"]]
    assert len(ledger) == len(closed) > 0
    for col in ("entry_time", "exit_time"):
        assert list(ledger[col]) == list(closed[col]), col
    for col in ("entry_price", "exit_price", "size", "entry_fees", "exit_fees", "pnl"):
        np.testing.assert_allclose(ledger[col].to_numpy(float), closed[col].to_numpy(float), rtol=1e-9, err_msg=col)
    assert list(ledger["exit_reason"]) == list(closed["exit_reason"])

    # -- testnet: the profile naming my_strat, against the simulator over HTTP ---------------------------------
    listed = sh("testnet", "orchestrate", "--list").stdout
    assert "my_strat fast=2 slow=10 on BTC/USD 1m" in listed
    r = sh("testnet", "orchestrate", "--profile", "mine", "--warmup", "20", "--catch-up", "60", "--max-bars", "60")
    assert ": completed" in r.stdout
    orders = list(sim_server.exchange.orders.values())
    assert orders, f"no order reached the simulator:\n{r.stdout}"
    assert f"orders / fills / denials  {len(orders)} / {len(orders)} /" in r.stdout


def test_numba_template_when_written_by_strategies_new_then_backtests_like_the_pandas_one(project):
    root, sh = project
    write_config(root, sim_url="http://127.0.0.1:8765")
    sh("strategies", "new", "my_strat")
    r = sh("strategies", "new", "my_fast", "--numba")
    assert (root / "strategies" / "my_fast.py").is_file() and "numba level" in r.stdout
    args = ["--exchange", "synthetic", "--param", "fast=10", "--param", "slow=50"]
    fast, pandas = stats(sh, "my_fast", *args), stats(sh, "my_strat", *args)
    # both templates are the same SMA crossover: the two authoring levels give the same backtest
    assert fast["n_trades"] == pandas["n_trades"] > 5
    assert fast["final_equity"] == pandas["final_equity"]
    sw = sh("sweep", "my_fast", "--exchange", "synthetic", "--grid", "fast=10,20", "--grid", "slow=50,100",
            "--out", "fast.csv")
    assert sw.returncode == 0 and len(pd.read_csv(root / "fast.csv")) == 4
