"""Where runs go: URI resolution, experiment artifact location."""

from __future__ import annotations

from pathlib import Path

from peaktrade.tracking import artifact_root, tracked_run, tracking_uri


def test_resolve_uri_when_sqlite_path_is_relative_then_it_is_under_the_project_root(make_cfg, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = make_cfg(tracking={"uri": "sqlite:///mlruns.db", "artifacts": "mlartifacts"})
    assert tracking_uri(cfg) == f"sqlite:///{cfg.root / 'mlruns.db'}"
    assert artifact_root(cfg) == cfg.root / "mlartifacts"


def test_resolve_uri_when_sqlite_path_is_absolute_then_it_is_kept(make_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = make_cfg(tracking={"uri": f"sqlite:///{tmp_path}/x/db.sqlite"})
    assert tracking_uri(cfg) == f"sqlite:///{tmp_path}/x/db.sqlite"


def test_resolve_uri_when_mlflow_tracking_uri_is_set_then_the_environment_wins(make_cfg, tmp_path, monkeypatch):
    cfg = make_cfg(tracking={"uri": "sqlite:///mlruns.db"})
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/env.db")
    assert tracking_uri(cfg) == f"sqlite:///{tmp_path}/env.db"


def test_start_run_when_experiment_is_new_then_artifacts_go_under_the_configured_root(tcfg, client, tmp_path,
                                                                                     monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    with tracked_run(config=tcfg, experiment="fresh experiment/1", run_name="r") as run:
        run.log_text("hello", "hello.txt")
    exp = client.get_experiment_by_name("fresh experiment/1")
    assert Path(exp.artifact_location) == tmp_path / "art" / "fresh_experiment_1"
    art_uri = client.get_run(run.run_id).info.artifact_uri
    assert (Path(art_uri) / "hello.txt").read_text() == "hello"
    assert not (cwd / "mlruns").exists() and not any(cwd.iterdir())


def test_log_backtest_when_default_relative_store_is_new_then_it_is_created_in_the_project_not_the_cwd(
        make_cfg, tmp_path, monkeypatch, result):
    from mlflow import MlflowClient

    from peaktrade.tracking import log_backtest

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = make_cfg(tracking={"uri": "sqlite:///mlruns.db", "artifacts": "mlartifacts"})  # the shipped defaults
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)

    run_id = log_backtest(result, config=cfg, report=False)

    assert run_id is not None
    assert (cfg.root / "mlruns.db").is_file()
    run = MlflowClient(tracking_uri=f"sqlite:///{cfg.root / 'mlruns.db'}").get_run(run_id)
    assert Path(run.info.artifact_uri).is_relative_to(cfg.root / "mlartifacts")
    assert (Path(run.info.artifact_uri) / "result" / "equity.parquet").is_file()
    assert list(cwd.iterdir()) == []
