"""``peaktrade mlflow server`` on a real PostgreSQL: one server for the module (started through the real CLI,
the backend URI with its password in the environment), the tracking layer over ``MLFLOW_TRACKING_URI=http://``,
an experiment batch of parallel notebooks against it, and the settings' precedence and errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from postgres_fixture import fresh_database, postgres_uri  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_store(postgres_uri: str) -> str:  # noqa: F811
    """A fresh PostgreSQL database of this module (URI with the password)."""
    return fresh_database(postgres_uri, f"mlflow_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def server(pg_store: str, tmp_path_factory: pytest.TempPathFactory):
    """Start ``peaktrade mlflow server`` once for the module; yield (url, artifacts dir, log file, process)."""
    home = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = home / "server.log"
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": pg_store, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])}
    env.pop("MLFLOW_TRACKING_URI", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "peaktrade.cli.main", "mlflow", "server",
                                 "--artifacts-destination", str(home / "artifacts"), "--port", str(port)],
                                cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # a cold start on a busy 2-core machine (migrations, imports) is slow
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"mlflow server did not come up (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    yield url, home / "artifacts", log, proc
    # the graceful stop (shared with `mlflow ui`) is tested in test_mlflow_ui_stop.py: here kill the server's
    # group (its leader is peaktrade's child, in a session of its own) and peaktrade at once
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    except OSError:  # a kernel without that file: the graceful stop, which takes longer
        children = []
        proc.send_signal(signal.SIGTERM)
    for child in children:
        try:
            os.killpg(int(child), signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.kill()
    proc.wait(timeout=60)


@pytest.fixture
def on_server(server, make_cfg, tmp_path, monkeypatch):
    """A test config whose tracking URI is the server (``MLFLOW_TRACKING_URI``); return (config, url)."""
    url = server[0]
    cfg = make_cfg(reports={"dir": str(tmp_path / "reports")}, runs={"dir": str(tmp_path / "runs")},
                   tracking={"experiment": f"t-{uuid.uuid4().hex[:8]}"})
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    return cfg, url


def _rows(pg_store: str, sql: str, *args: object) -> list[tuple]:
    import psycopg

    with psycopg.connect(pg_store) as con:
        return con.execute(sql, args).fetchall()


def test_serve_when_backend_uri_has_password_then_it_is_in_no_argv_and_no_output(server, pg_store):
    url, _, log, proc = server
    password = urlsplit(pg_store).password
    assert password and len(password) >= 16
    out = log.read_text(encoding="utf-8", errors="replace")
    assert f"MLflow server: {url}" in out
    parts = urlsplit(pg_store)
    assert f"backend store: postgresql+psycopg://{parts.username}:***@{parts.hostname}:{parts.port}{parts.path}" in out
    assert password not in out
    leaked = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if password.encode() in cmdline.read_bytes():
                leaked.append(cmdline.parent.name)
        except OSError:
            continue  # the process ended meanwhile
    assert leaked == []  # the server and its workers got the URI by the environment


def test_track_when_tracking_uri_is_the_server_then_runs_land_in_postgresql_with_artifacts(on_server, server, pg_store):
    from peaktrade.backtest import run
    from peaktrade.data import synthetic_bars
    from peaktrade.tracking import (
        artifact_files,
        log_backtest,
        recent_runs,
        report_for_run,
        run_url,
        tracked_run,
    )

    cfg, url = on_server
    bars = synthetic_bars(800, seed=5)
    res = run("ma_crossover", bars, fees=0.001, fast=10, slow=40)
    bt = log_backtest(res, config=cfg, symbol="BTC/USD", timeframe="1h", exchange="synthetic")
    with tracked_run(config=cfg, run_name="notebook", params={"window": 20}) as tr:
        tr.log_metrics({"hit_rate": 0.5})
    assert bt and tr.run_id
    assert run_url(bt, config=cfg).startswith(f"{url}/#/experiments/")
    assert {"result/stats.json", "report/report.html", "config/config.json"} <= set(artifact_files(bt, config=cfg))
    assert report_for_run(bt, config=cfg).is_file()
    listed = recent_runs(cfg, experiment=cfg.tracking.experiment, limit=10)
    assert {bt, tr.run_id} <= set(listed["run_id"])
    # the rows are PostgreSQL's, the artifact files are under the server's destination
    stored = {r[0] for r in _rows(pg_store, "SELECT run_uuid FROM runs WHERE status = 'FINISHED'")}
    assert {bt, tr.run_id} <= stored
    assert list(server[1].rglob(f"{bt}/artifacts/result/stats.json"))


def _spec(tmp_path: Path, n: int) -> Path:
    spec = tmp_path / "experiments" / "pg.toml"
    spec.parent.mkdir()
    runs = "".join(f'[[runs]]\nstrategy = "ma_crossover"\nparams = {{ fast = {5 + 5 * i}, slow = 60 }}\n'
                   for i in range(n))
    spec.write_text(f'name = "pg-batch-{uuid.uuid4().hex[:6]}"\nnotebook = "{ROOT / "notebooks" / "10-backtest.ipynb"}"\n'
                    '[data]\nexchange = "synthetic"\n[parameters]\nfees = 0.001\n' + runs, encoding="utf-8")
    return spec


def test_experiment_run_when_parallel_notebooks_log_to_server_then_no_run_lost_and_provenance_intact(
        on_server, cli, tmp_path, pg_store):
    from mlflow import MlflowClient

    from peaktrade import provenance as prov

    cfg, url = on_server
    n = 2  # two kernels logging at once on a 2-core machine
    spec = _spec(tmp_path, n)
    r = cli("experiment", "run", str(spec), "--parallel", str(n), "--out", str(tmp_path / "out"))
    assert r.exit_code == 0, r.stderr
    client = MlflowClient(tracking_uri=url)
    name = spec.read_text().split('"')[1]
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    by_kind: dict[str, list] = {}
    for x in runs:
        by_kind.setdefault(x.data.tags.get(prov.TAG_KIND, ""), []).append(x)
    (batch,) = by_kind["batch"]
    notebooks, backtests = by_kind["notebook"], by_kind["backtest"]
    assert len(notebooks) == n and len(backtests) == n  # no run lost under parallel writers
    assert all(x.info.status == "FINISHED" for x in runs)
    assert batch.data.metrics["n_ok"] == n
    assert {x.data.tags[prov.TAG_PARENT] for x in notebooks} == {batch.info.run_id}
    assert {x.data.tags[prov.TAG_PARENT] for x in backtests} == {x.info.run_id for x in notebooks}  # one each
    assert sorted(x.data.params["fast"] for x in backtests) == sorted(str(5 + 5 * i) for i in range(n))
    import peaktrade

    for x in backtests:  # provenance of every notebook's run, as a local store records it
        tags = x.data.tags
        assert tags[prov.TAG_VERSION] == peaktrade.__version__
        assert tags[prov.TAG_GIT_SHA] == prov.git_sha(cfg.root)  # of the project the config is in
        assert tags[prov.TAG_CONFIG_HASH] == cfg.config_hash()
        for tag in (prov.TAG_FINGERPRINT, prov.TAG_STRATEGY_CODE):
            assert tags.get(tag) not in (None, "", "unknown"), tag
        assert {"result/stats.json", "report/report.html"} <= {
            a.path for d in ("result", "report") for a in client.list_artifacts(x.info.run_id, d)}
    assert len({x.data.tags[prov.TAG_FINGERPRINT] for x in backtests}) == 1  # the same bars everywhere
    assert all(client.list_artifacts(x.info.run_id, "notebook") for x in notebooks)
    (count,) = _rows(pg_store, "SELECT count(*) FROM runs r JOIN experiments e ON r.experiment_id = e.experiment_id "
                               "WHERE e.name = %s", name)
    assert count[0] == 1 + 2 * n


# -- settings: cheap, no server ------------------------------------------------------------------------------
@pytest.fixture
def track_cfg(make_cfg, tmp_path, monkeypatch):
    """A test config with its own (not yet created) SQLite store: the dry runs and errors below open no store."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def make(**overrides):
        tracking = {"uri": f"sqlite:///{tmp_path}/mlruns.db", "artifacts": str(tmp_path / "art")}
        return make_cfg(tracking=tracking, **overrides)

    return make


def test_dry_run_when_nothing_configured_then_serves_the_project_sqlite_store_on_loopback(track_cfg, cli, monkeypatch):
    for var in ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_ARTIFACTS_DESTINATION", "MLFLOW_HOST", "MLFLOW_PORT",
                "MLFLOW_WORKERS"):
        monkeypatch.delenv(var, raising=False)
    cfg = track_cfg()
    r = cli("mlflow", "server", "--dry-run")
    assert r.exit_code == 0, r.stderr
    assert f"backend store: {cfg.tracking.uri}" in r.stdout  # SQLite stays the embedded default
    assert "--host 127.0.0.1 --port 5000 --workers 1" in r.stdout
    assert f"--artifacts-destination {cfg.tracking.artifacts}" in r.stdout
    assert "MLflow server: http://127.0.0.1:5000" in r.stdout


def test_dry_run_when_option_env_and_config_disagree_then_option_beats_env_beats_config(track_cfg, cli, monkeypatch):
    track_cfg(tracking_server={"backend_store_uri": "postgresql://cfg@db.example:5432/cfg", "port": 5101,
                               "artifacts_destination": "s3://cfg-bucket/art"})
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", "postgresql://env:envsecret@db.example:5432/env")
    monkeypatch.setenv("MLFLOW_PORT", "5102")
    monkeypatch.delenv("MLFLOW_ARTIFACTS_DESTINATION", raising=False)
    monkeypatch.delenv("MLFLOW_HOST", raising=False)
    r = cli("mlflow", "server", "--dry-run", "--port", "5103")
    assert r.exit_code == 0, r.stderr
    assert "backend store: postgresql://env:***@db.example:5432/env" in r.stdout  # env over config
    assert "--port 5103" in r.stdout  # option over env
    assert "--artifacts-destination s3://cfg-bucket/art" in r.stdout  # config when neither is given
    assert "envsecret" not in r.stdout + r.stderr
    r = cli("mlflow", "server", "--dry-run", "--backend-store-uri", "postgresql://opt:optsecret@db.example/opt")
    assert "backend store: postgresql://opt:***@db.example/opt" in r.stdout and "optsecret" not in r.stdout


def test_server_when_store_unreachable_then_one_line_error_without_password(postgres_uri, track_cfg, cli):  # noqa: F811
    track_cfg()
    parts = urlsplit(postgres_uri)
    wrong = parts._replace(netloc=f"{parts.username}:wrong-password-{uuid.uuid4().hex[:8]}@{parts.hostname}:"
                                  f"{parts.port}").geturl()  # the right user, a wrong password
    r = cli("mlflow", "server", "--backend-store-uri", wrong, "--port", str(_free_port()))
    assert r.exit_code != 0
    assert "cannot be reached" in r.stderr and "password authentication failed" in r.stderr
    assert urlsplit(wrong).password not in r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize(("uri", "expected"), [
    ("http://127.0.0.1:5000", "is a tracking server, not a store"),
    ("mongodb://u@h/db", "is not supported"),
    ("postgresql+psycopg2://u@h/db", "is not installed with peaktrade"),
])
def test_server_when_backend_uri_is_not_a_store_then_one_line_error(track_cfg, cli, uri, expected):
    track_cfg()
    r = cli("mlflow", "server", "--backend-store-uri", uri)
    assert r.exit_code != 0 and expected in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_load_config_when_server_uri_in_config_has_password_then_refused_without_echo(track_cfg):
    from peaktrade.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        track_cfg(tracking_server={"backend_store_uri": "postgresql://u:hunter2secret@db/x"})
    assert "tracking_server.backend_store_uri" in str(e.value) and "PGPASSWORD" in str(e.value)
    assert "hunter2secret" not in str(e.value)


def test_dry_run_when_env_port_is_not_a_port_then_one_line_error_naming_it(track_cfg, cli, monkeypatch):
    track_cfg()
    monkeypatch.setenv("MLFLOW_PORT", "70000")
    r = cli("mlflow", "server", "--dry-run")
    assert r.exit_code != 0 and "port='70000' is invalid: expected an integer in [1, 65535]" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
