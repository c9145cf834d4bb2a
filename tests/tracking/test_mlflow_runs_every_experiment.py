"""`peaktrade mlflow runs` after `experiment run`: each spec logs to its own MLflow experiment, so the
listing without --experiment covers every experiment (it failed on the [tracking] experiment, which a fresh
project running only specs never creates: the README's commands in that order, tests/docs)."""

from __future__ import annotations

from peaktrade.tracking import log_backtest


def test_mlflow_runs_when_runs_are_in_spec_experiments_only_then_all_are_listed_with_their_experiment(tcfg, cli,
                                                                                                     result):
    a = log_backtest(result, config=tcfg, experiment="btc-ma-sweep", report=False)
    b = log_backtest(result, config=tcfg, experiment="demo", report=False)
    out = cli("mlflow", "runs")
    assert out.exit_code == 0, out.stderr
    assert "runs of every experiment" in out.stdout
    assert f"{a}  FINISHED" in out.stdout and "[btc-ma-sweep]" in out.stdout
    assert f"{b}  FINISHED" in out.stdout and "[demo]" in out.stdout
    one = cli("mlflow", "runs", "--experiment", "demo")
    assert one.exit_code == 0 and b in one.stdout and a not in one.stdout
