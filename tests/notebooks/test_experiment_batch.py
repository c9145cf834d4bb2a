"""``peaktrade experiment run``: papermill batch with a real kernel, MLflow parent + child runs,
failures reported with the failing cell, the others carried on, non-zero exit."""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def batch_cfg(make_cfg, tmp_path):
    return make_cfg(tracking={"uri": f"sqlite:///{tmp_path}/mlruns.db", "artifacts": str(tmp_path / "art")},
                    reports={"dir": str(tmp_path / "reports")}, runs={"dir": str(tmp_path / "runs")})


def _spec(tmp_path: Path, strategies: list[str]) -> Path:
    (tmp_path / "experiments").mkdir(exist_ok=True)
    spec = tmp_path / "experiments" / "t.toml"
    runs = "".join(f'[[runs]]\nstrategy = "{s}"\n' for s in strategies)
    spec.write_text(f'name = "t"\nnotebook = "{ROOT / "notebooks" / "10-backtest.ipynb"}"\n'
                    '[data]\nexchange = "synthetic"\n[parameters]\nfees = 0.001\n' + runs)
    return spec


def _runs(tmp_path, cfg, experiment: str):
    """The runs of a spec: they are in the MLflow experiment named after it, not the default one."""
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id])


def test_batch_runs_every_set_and_tracks_parent_and_children_when_all_succeed(batch_cfg, cli, tmp_path):
    r = cli("experiment", "run", str(ROOT / "experiments" / "demo.toml"), "--parallel", "2",
            "--out", str(tmp_path / "out"))
    assert r.exit_code == 0, r.stderr
    executed = sorted((tmp_path / "out").glob("*.ipynb"))
    assert len(executed) == 2
    client, runs = _runs(tmp_path, batch_cfg, "demo")
    by_kind = {}
    for run in runs:
        by_kind.setdefault(run.data.tags.get("peaktrade.kind"), []).append(run)
    (parent,) = by_kind["batch"]
    nb_runs = by_kind["notebook"]
    assert len(nb_runs) == 2 and all(x.data.tags["mlflow.parentRunId"] == parent.info.run_id for x in nb_runs)
    assert {x.data.params["fees"] for x in nb_runs} == {"0.001", "0.0026"}
    for x in nb_runs:
        assert [a.path for a in client.list_artifacts(x.info.run_id, "notebook")]
        sweeps = [s for s in by_kind["sweep"] if s.data.tags["mlflow.parentRunId"] == x.info.run_id]
        assert len(sweeps) == 1 and "dsr" in sweeps[0].data.metrics and "pbo" in sweeps[0].data.metrics
    assert parent.data.metrics["n_ok"] == 2 and parent.data.metrics["n_failed"] == 0
    assert parent.data.tags["peaktrade.lookahead"] == "passed"  # ma_crossover's grid was checked first


def test_batch_reports_failing_cell_and_carries_on_when_one_run_fails(batch_cfg, cli, tmp_path):
    # an unknown strategy is refused before any run (check_inputs); parameters breaking a constraint fail in the run
    spec = _spec(tmp_path, ["ma_crossover", "ma_crossover"])
    spec.write_text(spec.read_text().replace('strategy = "ma_crossover"\n',
                                             'strategy = "ma_crossover"\nparams = { fast = 50, slow = 10 }\n', 1))
    r = cli("experiment", "run", str(spec), "--out", str(tmp_path / "out"))
    assert r.exit_code == 1
    assert "run 0 failed" in r.stderr and "fast < slow" in r.stderr
    assert "result = run(strategy, bars" in r.stderr  # the failing cell's source
    _, runs = _runs(tmp_path, batch_cfg, "t")
    status = sorted(x.info.status for x in runs if x.data.tags.get("peaktrade.kind") == "notebook")
    assert status == ["FAILED", "FINISHED"]
    assert any(x.data.tags.get("peaktrade.kind") == "backtest" for x in runs)


def test_dry_run_executes_nothing(batch_cfg, cli, tmp_path):
    from peaktrade.data import BarStore
    from tests.helpers import random_bars

    # the dry run checks the spec's data set is stored (check_inputs)
    BarStore(batch_cfg.data_dir).write("kraken", "BTC/USD", "1h", random_bars(100), source="test")
    r = cli("experiment", "run", str(ROOT / "experiments" / "btc-ma-sweep.toml"), "--dry-run")
    assert r.exit_code == 0 and "4 run(s) of 20-sweep.ipynb" in r.stdout
    assert not (tmp_path / "mlruns.db").exists()


# -- lookahead gate ---------------------------------------------------------------------------------
sys.path.insert(0, str(ROOT / "tests" / "experiments"))
import leaky_strategies as leaks  # noqa: E402


@pytest.fixture
def leaky():
    """Register a planted leak (a kernel peeking at the next close on rare events) for this test only."""
    from peaktrade.strategies.registry import _REGISTRY, register

    register(leaks.RARE_PEEK)
    yield leaks.RARE_PEEK.name
    _REGISTRY.pop(leaks.RARE_PEEK.name, None)


def _leaky_spec(tmp_path: Path, strategy: str, *, allow: bool | None = None) -> Path:
    spec = _spec(tmp_path, [strategy])
    # the notebook's default params are ma_crossover's: the planted strategy takes none
    spec.write_text(spec.read_text().replace(f'strategy = "{strategy}"\n', f'strategy = "{strategy}"\nparams = {{}}\n'))
    if allow is not None:
        spec.write_text(f"allow_lookahead = {'true' if allow else 'false'}\n" + spec.read_text())
    return spec


def test_experiment_run_when_a_strategy_reads_the_future_then_refused_in_one_line(batch_cfg, cli, tmp_path, leaky):
    r = cli("experiment", "run", str(_leaky_spec(tmp_path, leaky)), "--out", str(tmp_path / "out"))
    assert r.exit_code == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: experiment 't' refused: lookahead check failed: strategy "
                               f"'{leaky}' reads the future: signal 'entries' at bar ")
    assert "allow_lookahead = true" in lines[0] and "--allow-lookahead" in lines[0]
    assert "Traceback" not in r.stderr
    assert not list((tmp_path / "out").glob("*.ipynb")) and not (tmp_path / "mlruns.db").exists()


def test_experiment_run_when_lookahead_is_allowed_by_flag_or_spec_then_not_refused(batch_cfg, cli, tmp_path, leaky):
    r = cli("experiment", "run", str(_leaky_spec(tmp_path, leaky)), "--dry-run", "--allow-lookahead")
    assert r.exit_code == 0, r.stderr
    assert f"lookahead check of {leaky}: FAILED, allowed: strategy '{leaky}' reads the future" in r.stderr
    r = cli("experiment", "run", str(_leaky_spec(tmp_path, leaky, allow=True)), "--dry-run")
    assert r.exit_code == 0 and "FAILED, allowed" in r.stderr and "(cached)" in r.stderr
    r = cli("experiment", "run", str(_leaky_spec(tmp_path, leaky, allow=False)), "--dry-run")
    assert r.exit_code == 2 and "refused" in r.stderr


def test_check_lookahead_when_checked_before_then_cached_until_the_code_or_check_version_changes(
        batch_cfg, tmp_path, leaky, monkeypatch):
    import peaktrade.experiments.lookahead as la
    from peaktrade.experiments.batch import ExperimentError, check_lookahead, load_spec

    spec = load_spec(_leaky_spec(tmp_path, leaky))
    calls = []
    real = la.lookahead_check
    monkeypatch.setattr(la, "lookahead_check", lambda *a, **k: calls.append(a) or real(*a, **k))
    with pytest.raises(ExperimentError, match="lookahead check failed") as first:
        check_lookahead(spec, config=batch_cfg)
    assert len(calls) == 1 and len(list((tmp_path / "runs" / "cache" / "lookahead").glob("*.json"))) == 1
    with pytest.raises(ExperimentError) as again:
        check_lookahead(spec, config=batch_cfg)
    assert len(calls) == 1 and str(again.value) == str(first.value)  # served from the cache
    (v,) = check_lookahead(spec, config=batch_cfg, allow=True)
    assert v.cached and not v.passed and len(calls) == 1
    monkeypatch.setattr(la, "strategy_code_hash", lambda s: "edited source")
    check_lookahead(spec, config=batch_cfg, allow=True)
    assert len(calls) == 2  # the strategy's code changed: checked again
    monkeypatch.setattr(la, "CHECK_VERSION", la.CHECK_VERSION + 1)
    check_lookahead(spec, config=batch_cfg, allow=True)
    assert len(calls) == 3  # the check changed: checked again


def test_check_lookahead_when_spec_uses_library_strategies_then_each_grid_is_checked_and_passes(batch_cfg):
    from peaktrade.experiments.batch import check_lookahead, load_spec

    spec = load_spec(ROOT / "experiments" / "eth-rsi-walk-forward.toml")
    verdicts = check_lookahead(spec, config=batch_cfg)
    # three runs, two distinct parameter grids (trend 0 and trend 200; anchored does not matter)
    assert [v.strategy for v in verdicts] == ["rsi_reversion", "rsi_reversion"]
    assert all(v.passed for v in verdicts)
    assert {v.params["trend"] for v in verdicts} == {0, 200}
    assert verdicts[0].params["window"] == [7, 14, 21]


def test_load_spec_when_allow_lookahead_is_not_a_bool_then_error_names_it(tmp_path):
    from peaktrade.experiments.batch import ExperimentError, load_spec

    spec = _spec(tmp_path, ["ma_crossover"])
    spec.write_text('allow_lookahead = "yes"\n' + spec.read_text())
    with pytest.raises(ExperimentError, match="'allow_lookahead' in .* is 'yes': expected true or false"):
        load_spec(spec)


def test_demo_specs_when_config_root_has_no_specs_then_the_shipped_ones_in_order(cfg):
    from peaktrade.experiments.batch import demo_specs

    assert not (cfg.root / "experiments" / "demo.toml").is_file() or cfg.root == ROOT
    specs = demo_specs(cfg)
    assert [s.name for s in specs] == ["demo-backtest", "demo"]
    assert all(s.source.parent == ROOT / "experiments" for s in specs)
