"""Experiment specs naming a user strategy (a file in the project's ``strategies/`` folder): the lookahead
gate and the papermill kernels (real kernels) use the batch's config, so they find the project's
strategies and log to the project's MLflow store, whatever folder the notebook is in."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import mlflow
from helpers import REPO_ROOT, write_toml

from peaktrade.config import ENV_PATH_VAR


def _project(tmp_path: Path) -> Path:
    """A project outside the repository: config/config.toml with every path inside it, strategies/."""
    root = tmp_path / "proj"
    data = tomllib.loads((REPO_ROOT / "config" / "config.test.toml").read_text(encoding="utf-8"))
    data["data"]["dir"] = "store"
    data["tracking"].update({"uri": f"sqlite:///{root / 'mlruns.db'}", "artifacts": "mlartifacts"})
    for section in ("reports", "runs"):
        data[section]["dir"] = section
    (root / "strategies").mkdir(parents=True)
    (root / "experiments").mkdir()
    write_toml(root / "config" / "config.toml", data)
    return root


def test_experiment_run_when_config_given_by_flag_then_kernels_run_the_projects_strategy_and_log_there(
        cli, clean_env, tmp_path):
    root = _project(tmp_path)
    cfg_path = str(root / "config" / "config.toml")
    assert cli("--config", cfg_path, "strategies", "new", "my_strat").exit_code == 0
    # the notebook is the repository's: its kernel starts in the repository's notebooks/ folder, a project
    # whose own config knows no my_strat and has another MLflow store
    spec = root / "experiments" / "mine.toml"
    spec.write_text(f'name = "mine"\nnotebook = "{REPO_ROOT / "notebooks" / "10-backtest.ipynb"}"\n'
                    '[data]\nexchange = "synthetic"\n'
                    '[parameters]\nstrategy = "my_strat"\nparams = { fast = 10, slow = 50 }\nfees = 0.001\n')
    assert ENV_PATH_VAR not in os.environ
    r = cli("--config", cfg_path, "experiment", "run", str(spec), "--out", str(tmp_path / "out"))
    assert r.exit_code == 0, r.stderr + r.stdout
    assert "lookahead check of my_strat: passed" in r.stdout  # the gate found it too (was skipped)
    assert ENV_PATH_VAR not in os.environ  # the kernels' variable does not outlive the batch

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlruns.db'}")
    runs = [x for e in client.search_experiments() for x in client.search_runs([e.experiment_id])]
    by_kind = {x.data.tags.get("peaktrade.kind"): x for x in runs}
    assert {"batch", "notebook", "backtest"} <= set(by_kind)
    assert by_kind["batch"].data.tags["peaktrade.lookahead"] == "passed"
    backtest = by_kind["backtest"]
    assert backtest.data.tags["peaktrade.strategy"] == "my_strat" and backtest.info.status == "FINISHED"
    assert backtest.data.tags["mlflow.parentRunId"] == by_kind["notebook"].info.run_id
    assert backtest.data.metrics["n_trades"] > 0
    assert list((root / "reports").glob("*.html"))  # the notebook's report went to the project's reports dir


def test_kernel_config_when_config_is_a_file_then_set_for_the_block_and_restored(make_cfg, clean_env):
    from peaktrade._env import environ_set
    from peaktrade.config import load_config
    from peaktrade.experiments.kernel import kernel_config_env

    def _kernel_config(config):  # what run_experiment (and `peaktrade lab`) start kernels in
        return environ_set(kernel_config_env(config))

    cfg = make_cfg()
    clean_env.setenv(ENV_PATH_VAR, "/elsewhere/config.toml")
    with _kernel_config(cfg):
        assert os.environ[ENV_PATH_VAR] == str(Path(cfg.source).resolve())
    assert os.environ[ENV_PATH_VAR] == "/elsewhere/config.toml"
    clean_env.delenv(ENV_PATH_VAR)
    defaults = load_config(env={})
    with _kernel_config(defaults.model_copy(update={"source": "<defaults>"})):
        assert ENV_PATH_VAR not in os.environ  # built-in defaults: nothing to point the kernels at
