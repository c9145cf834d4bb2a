"""A shared MLflow tracking server: its backend store (PostgreSQL, or the project's SQLite), artifacts, address.

Settings come, in this order, from the options of ``peaktrade mlflow server`` (named as ``mlflow server``
names them), the environment variables ``mlflow server`` itself reads (``MLFLOW_BACKEND_STORE_URI``,
``MLFLOW_ARTIFACTS_DESTINATION``, ``MLFLOW_HOST``, ``MLFLOW_PORT``, ``MLFLOW_WORKERS``) and the config's
``[tracking_server]`` section. The backend URI may hold a password: it reaches the server process through its
environment, never its command line (which ``ps`` shows to every user), and is shown redacted everywhere.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from peaktrade._uri_secrets import mask_passwords
from peaktrade.errors import PeakTradeError
from peaktrade.tracking._store import check_sqlite, load, redact_uri, sqlite_path, tracking_uri

if TYPE_CHECKING:
    from peaktrade.config import Config

#: The environment variables ``mlflow server`` reads for its options (its own names).
ENV_BACKEND = "MLFLOW_BACKEND_STORE_URI"
ENV_ARTIFACTS = "MLFLOW_ARTIFACTS_DESTINATION"
ENV_HOST, ENV_PORT, ENV_WORKERS = "MLFLOW_HOST", "MLFLOW_PORT", "MLFLOW_WORKERS"
ENV_JOBS = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
_DB_SCHEMES = ("postgresql", "sqlite", "mysql", "mssql")


@dataclass(frozen=True)
class ServerPlan:
    """What ``peaktrade mlflow server`` runs: ``cmd`` (no secret in it) with ``env`` added, serving ``url``."""

    cmd: list[str]
    env: dict[str, str]
    url: str
    backend: str  # redacted
    artifacts: str

    @property
    def shown(self) -> str:
        """Return the command line as a user may copy it (the backend store goes by the environment)."""
        import shlex

        # redacted again: whoever built the plan, a printed command never carries the password
        return f"{ENV_BACKEND}={shlex.quote(redact_uri(self.backend))} {shlex.join(self.cmd)}"


def _pick(option: object, env: str, configured: object) -> object:
    if option not in (None, ""):
        return option
    value = os.environ.get(env, "").strip()
    return value if value else configured


def _int(value: object, name: str, lo: int, hi: int) -> int:
    try:
        n = int(str(value))
    except ValueError:
        raise PeakTradeError(f"{name}={value!r} is invalid: expected an integer in [{lo}, {hi}]") from None
    if not lo <= n <= hi:
        raise PeakTradeError(f"{name}={value!r} is invalid: expected an integer in [{lo}, {hi}]")
    return n


def backend_store(uri: str, cfg: Config) -> str:
    """Return the backend store URI checked: a database ``mlflow server`` can use (``postgresql://`` with
    psycopg 3, SQLAlchemy's default driver for it; SQLite, made absolute against the project root).

    Raises
    ------
    PeakTradeError
        An unknown scheme, a remote tracking URI, a missing driver, or a store that cannot be reached (one line,
        password masked).
    """
    try:
        scheme = urlsplit(uri).scheme.lower()
    except ValueError:
        raise PeakTradeError(f"--backend-store-uri {redact_uri(uri)!r} is not a URI: expected "
                             "postgresql://USER@HOST:PORT/DB or sqlite:///FILE") from None
    dialect, _, driver = scheme.partition("+")
    if dialect in ("http", "https", "databricks"):
        raise PeakTradeError(f"--backend-store-uri {redact_uri(uri)} is a tracking server, not a store: expected "
                             "postgresql://USER@HOST:PORT/DB or sqlite:///FILE")
    if dialect not in _DB_SCHEMES and scheme != "file":
        raise PeakTradeError(f"--backend-store-uri {redact_uri(uri)!r} is not supported: expected "
                             "postgresql://USER@HOST:PORT/DB or sqlite:///FILE")
    if dialect == "sqlite":
        db = sqlite_path(uri)
        if db is not None and not db.is_absolute():
            uri = "sqlite:///" + str(cfg.resolve_path(db))
            db = sqlite_path(uri)
        if db is not None:
            check_sqlite(db)
    if dialect == "postgresql":
        if driver not in ("", "psycopg"):
            raise PeakTradeError(f"--backend-store-uri {redact_uri(uri)}: driver {driver!r} is not installed with "
                                 "peaktrade: use postgresql:// (psycopg 3)")
        check_postgres(uri)
        # psycopg 3 named explicitly: SQLAlchemy's default for postgresql:// is psycopg 3 only from 2.1 on
        uri = "postgresql+psycopg" + uri[len(scheme):] if not driver else uri
    return uri


def check_postgres(uri: str, *, timeout: float = 10.0) -> None:
    """Fail fast when the PostgreSQL store cannot be reached (MLflow would retry for minutes, then print a
    traceback): connect once and report the reason in one line, with any password masked."""
    try:
        import psycopg
    except ImportError:
        raise PeakTradeError("a postgresql:// store needs psycopg 3: pip install 'psycopg[binary]'") from None
    from sqlalchemy.engine import make_url

    # parsed as MLflow's SQLAlchemy will parse it (libpq reads `u:pa/ss@host` differently), then given to psycopg
    try:
        url = make_url(uri)
    except Exception:
        raise PeakTradeError(f"backend store {redact_uri(uri)} is not a URI: expected "
                             "postgresql://USER@HOST:PORT/DB") from None
    params = {"host": url.host, "port": url.port, "user": url.username, "password": url.password,
              "dbname": url.database, **{k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()}}
    try:
        psycopg.connect(**{k: v for k, v in params.items() if v is not None},
                        connect_timeout=max(1, int(timeout))).close()
    except psycopg.Error as e:
        reason = mask_passwords(" ".join(str(e).split()), uri)
        raise PeakTradeError(f"backend store {redact_uri(uri)} cannot be reached: {reason}") from None


def artifacts_destination(value: str, cfg: Config) -> str:
    """Return the artifact destination: an absolute directory (created), or an object-store URI as given.

    Raises
    ------
    PeakTradeError
        For an ``s3://`` destination without boto3, or a directory that cannot be created.
    """
    scheme = urlsplit(value).scheme.lower() if "://" in value else ""
    if scheme == "file":
        value, scheme = urlsplit(value).path, ""
    if scheme:
        if scheme == "s3":
            try:
                import boto3  # noqa: F401  (MLflow's S3 artifact repository uses it)
            except ImportError:
                raise PeakTradeError(f"--artifacts-destination {value}: an S3-compatible store needs boto3: "
                                     "pip install boto3 (endpoint in MLFLOW_S3_ENDPOINT_URL)") from None
        return value
    path = cfg.resolve_path(Path(value))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PeakTradeError(f"--artifacts-destination {path} cannot be created: {e.strerror or e}") from None
    return str(path)


def server_command(config: Config | None = None, *, backend_store_uri: str | None = None,
                   artifacts_destination: str | None = None, host: str | None = None, port: int | None = None,
                   workers: int | None = None, check: bool = True) -> ServerPlan:
    """Return what serves a shared MLflow tracking server: ``python -m mlflow server`` with proxied artifacts.

    Each setting is the argument when given, else the variable ``mlflow server`` reads, else
    ``[tracking_server]``; an empty backend is the project's own store (``[tracking] uri``, SQLite by default)
    and an empty artifact destination is ``[tracking] artifacts``. ``check`` connects to the store first.

    Raises
    ------
    PeakTradeError
        One line naming the bad setting (secrets masked).
    """
    cfg = load(config)
    server = cfg.tracking_server
    backend = str(_pick(backend_store_uri, ENV_BACKEND, server.backend_store_uri))
    if not backend:  # the project's own store (not MLFLOW_TRACKING_URI, which may name this very server)
        backend = tracking_uri(cfg, environment=False)
    backend = backend_store(backend, cfg) if check else backend
    artifacts = str(_pick(artifacts_destination, ENV_ARTIFACTS, server.artifacts_destination)) or \
        str(cfg.tracking.artifacts)
    artifacts = _artifacts_or_plain(artifacts, cfg, check)
    host = str(_pick(host, ENV_HOST, server.host))
    if not host or any(c.isspace() for c in host):
        raise PeakTradeError(f"host={host!r} is invalid: expected a host name or address")
    port_n = _int(_pick(port, ENV_PORT, server.port), "port", 1, 65535)
    workers_n = _int(_pick(workers, ENV_WORKERS, server.workers), "workers", 1, 64)
    cmd = [sys.executable, "-m", "mlflow", "server", "--artifacts-destination", artifacts, "--host", host,
           "--port", str(port_n), "--workers", str(workers_n)]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    from peaktrade._telemetry import TELEMETRY_OFF

    env = {**TELEMETRY_OFF, ENV_BACKEND: backend}
    # MLflow's job runner (huey consumers for its GenAI judges and trace rollups) is not used by peaktrade: off
    # unless the environment asks for it, so the server starts and stops with fewer processes
    if ENV_JOBS not in os.environ:
        env[ENV_JOBS] = "false"
    return ServerPlan(cmd=cmd, env=env, url=f"http://{shown}:{port_n}", backend=redact_uri(backend),
                      artifacts=artifacts)


def _artifacts_or_plain(value: str, cfg: Config, check: bool) -> str:
    if check:
        return artifacts_destination(value, cfg)
    return value if "://" in value else str(cfg.resolve_path(Path(value)))

