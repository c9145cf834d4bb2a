"""A password in a database or tracking URI, in every form its consumers read, is refused in the config, masked by
``redact_uri`` and in the printed server command, and refused when a schedule would carry it into a unit or crontab
line; the secret itself is never echoed (every secret below contains ``S3cr``, nothing else does)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from postgres_fixture import postgres_uri  # noqa: F401  (the fixture)

from peaktrade.errors import ConfigError, PeakTradeError
from peaktrade.schedule import _core
from peaktrade.schedule._timing import ScheduleError
from peaktrade.tracking._server import ENV_BACKEND, check_postgres, server_command
from peaktrade.tracking._store import redact_uri

MARK = "S3cr"
SECRET_URIS = {
    "userinfo": "postgresql://alice:S3cretA@127.0.0.1:5432/db",
    # SQLAlchemy reads the password `pa/S3cretB` (to the first @); urlsplit ends the user info at the / and sees none
    "userinfo with /": "postgresql://alice:pa/S3cretB@127.0.0.1:5432/db",
    "?password=": "postgresql://alice@127.0.0.1:5432/db?password=S3cretC",
    "?user=&password=": "postgresql://127.0.0.1:5432/db?user=alice&password=S3cretD&sslmode=prefer",
    "percent-encoded password": "postgresql://alice:S3cr%65t%2FE@127.0.0.1:5432/db",
    "percent-encoded key": "postgresql://127.0.0.1:5432/db?user=alice&pass%77ord=S3cretF",
    "conninfo": "host=127.0.0.1 user=alice password='S3cret G' dbname=db",
}
FORMS = pytest.mark.parametrize("uri", list(SECRET_URIS.values()), ids=list(SECRET_URIS))
PLAIN_URIS = ["postgresql://alice@127.0.0.1:5432/db", "sqlite:///mlruns.db", "http://127.0.0.1:5000/a@b"]


@FORMS
def test_config_when_backend_store_uri_holds_a_password_then_refused_without_echoing_it(make_cfg, uri):
    with pytest.raises(ConfigError) as e:
        make_cfg(tracking_server={"backend_store_uri": uri})
    assert "tracking_server.backend_store_uri holds a password and is refused" in str(e.value)
    assert MARK not in str(e.value)


@FORMS
def test_redact_uri_when_a_password_is_in_any_form_then_masked(uri):
    shown = redact_uri(uri)
    assert MARK not in shown and "***" in shown and "127.0.0.1" in shown


@FORMS
def test_server_command_when_backend_holds_a_password_then_shown_masked_and_env_keeps_it(make_cfg, uri):
    plan = server_command(make_cfg(), backend_store_uri=uri, check=False)
    assert MARK not in plan.shown and "***" in plan.shown and "127.0.0.1" in plan.shown
    assert MARK not in " ".join(plan.cmd)
    assert plan.env[ENV_BACKEND] == uri  # the server itself still gets the password, through its environment


@FORMS
def test_schedule_when_a_carried_variable_holds_a_password_then_refused_without_echoing_it(make_cfg, monkeypatch,
                                                                                          uri):
    cfg = make_cfg()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(ScheduleError, match="MLFLOW_TRACKING_URI holds a credential") as e:
        _core._carried_env(cfg)
    assert MARK not in str(e.value)


@pytest.mark.parametrize("value", ["https://x.example/hook?token=S3crT", "my-S3cr-secret", "a password = S3crP"])
def test_schedule_when_a_carried_override_names_a_token_or_secret_then_refused(make_cfg, monkeypatch, value):
    cfg = make_cfg()
    monkeypatch.setenv("PEAKTRADE__TRACKING__EXPERIMENT", value)
    with pytest.raises(ScheduleError, match="PEAKTRADE__TRACKING__EXPERIMENT holds a credential") as e:
        _core._carried_env(cfg)
    assert MARK not in str(e.value)


@pytest.mark.parametrize("uri", PLAIN_URIS)
def test_uri_when_it_holds_no_password_then_accepted_unchanged_and_carried(make_cfg, monkeypatch, uri):
    cfg = make_cfg(tracking_server={"backend_store_uri": uri})
    assert cfg.tracking_server.backend_store_uri == uri and redact_uri(uri) == uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert _core._carried_env(cfg)["MLFLOW_TRACKING_URI"] == uri


def test_check_postgres_when_password_has_a_slash_or_is_a_query_parameter_then_read_as_mlflow_reads_it(
        postgres_uri):  # noqa: F811
    import psycopg

    parts = urlsplit(postgres_uri)
    role, password = f"r{uuid.uuid4().hex[:8]}", f"pa/S3cr{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_uri, autocommit=True, connect_timeout=10) as con:
        con.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    where = f"{parts.hostname}:{parts.port}/postgres"
    check_postgres(f"postgresql://{role}:{password}@{where}")  # SQLAlchemy's reading: libpq's would fail
    check_postgres(f"postgresql://{where}?user={role}&password={password.replace('/', '%2F')}")
    with pytest.raises(PeakTradeError, match="password authentication failed") as e:
        check_postgres(f"postgresql://{where}?user={role}&password=wrong-S3cr")
    assert MARK not in str(e.value)
