"""Where runs go: the tracking URI, the artifact root and the experiment, resolved from the config."""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from peaktrade._uri_secrets import redact_uri  # noqa: F401  (re-exported: the one redaction)
from peaktrade.errors import PeakTradeError

if TYPE_CHECKING:
    from peaktrade.config import Config

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
_LOCAL_SCHEMES = ("sqlite", "file", "")


def load(config: Config | None = None) -> Config:
    """Return ``config`` or the loaded default configuration."""
    if config is not None:
        return config
    from peaktrade.config import load_config

    return load_config()


def tracking_uri(config: Config | None = None, *, environment: bool = True) -> str:
    """Return the MLflow tracking URI: ``$MLFLOW_TRACKING_URI`` when set (and ``environment``), else
    ``[tracking] uri``.

    A relative ``sqlite:///`` path (e.g. the default ``sqlite:///mlruns.db``) and a bare relative
    path are resolved against the project root, so every working directory sees one store.
    """
    env = os.environ.get(ENV_TRACKING_URI, "").strip() if environment else ""
    if env:
        return env
    cfg = load(config)
    uri = cfg.tracking.uri.strip()
    if uri.startswith("sqlite:///"):
        rest = uri[len("sqlite:///"):]
        path, sep, query = rest.partition("?")
        if path and path != ":memory:" and not path.startswith("/"):
            return "sqlite:///" + str(cfg.resolve_path(Path(path))) + sep + query
        return uri
    if uri.startswith("file:"):
        return uri
    if "://" not in uri:
        return cfg.resolve_path(Path(uri)).as_uri()
    return uri


def artifact_root(config: Config | None = None) -> Path:
    """Return the absolute directory for artifacts of experiments peaktrade creates."""
    cfg = load(config)
    return cfg.resolve_path(Path(cfg.tracking.artifacts))


def is_local(uri: str) -> bool:
    """Return True for stores on this machine (sqlite, file), whose artifacts peaktrade places."""
    return urlsplit(uri).scheme.split("+")[0] in _LOCAL_SCHEMES


def local_path(uri: str | None) -> Path | None:
    """Return the local directory of an artifact URI (``file:`` or a plain path); None for any other
    scheme (``mlflow-artifacts:``, ``s3:`` ...), whose files are not on this machine."""
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        from urllib.parse import unquote

        return Path(unquote(parts.path))
    if parts.scheme == "" and Path(uri).is_absolute():
        return Path(uri)
    return None


def sqlite_path(uri: str) -> Path | None:
    """Return the database file of a ``sqlite:///`` URI (None for other URIs and in-memory stores)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].partition("?")[0]
    return None if not path or path == ":memory:" else Path(path)


def slug(name: str) -> str:
    """Return ``name`` as a safe directory name."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return s or "experiment"


@dataclass
class Store:
    """An open tracking store: the MLflow client, its URI and the artifact root."""

    client: Any
    uri: str
    artifacts: Path

    def experiment_id(self, name: str, *, create: bool = True) -> str | None:
        """Return the id of experiment ``name``, creating (or restoring) it when asked.

        New experiments of a local store keep their artifacts under ``<artifacts>/<name>``, not
        in ``./mlruns`` of the working directory.
        """
        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            if not create:
                return None
            kwargs: dict[str, Any] = {}
            if is_local(self.uri):
                loc = self.artifacts / slug(name)
                loc.mkdir(parents=True, exist_ok=True)
                kwargs["artifact_location"] = str(loc)
            try:
                return self.client.create_experiment(name, **kwargs)
            except Exception:
                exp = self.client.get_experiment_by_name(name)  # created concurrently by another process
                if exp is None:
                    raise
        if exp.lifecycle_stage == "deleted":
            if not create:
                return None
            self.client.restore_experiment(exp.experiment_id)
        return exp.experiment_id


def check_sqlite(db: Path, *, timeout: float = 10.0) -> None:
    """Fail fast when the SQLite store cannot be created or written.

    MLflow retries a failing database connection with exponential backoff for about 100 s; this
    check turns a wrong path or a read-only file into an immediate error instead.

    Raises
    ------
    PeakTradeError
        Naming the database and the reason.
    """
    if db.is_dir():
        raise PeakTradeError(f"tracking store {db} is a directory: expected an SQLite database file")
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PeakTradeError(f"tracking store directory {db.parent} cannot be created: {e.strerror or e}") from None
    try:
        con = sqlite3.connect(str(db), timeout=timeout)
        try:
            con.execute("BEGIN IMMEDIATE")  # takes the write lock: fails on read-only files and directories
            con.execute("ROLLBACK")
        finally:
            con.close()
    except sqlite3.Error as e:
        raise PeakTradeError(f"tracking store {db} cannot be written: {e}") from None


def open_store(config: Config | None = None, *, must_exist: bool = False) -> Store:
    """Open the configured tracking store.

    Parameters
    ----------
    config
        Config (default: loaded).
    must_exist
        Raise instead of creating a new sqlite database (for read-only commands).

    Raises
    ------
    PeakTradeError
        When ``must_exist`` and the sqlite database file is absent.
    """
    cfg = load(config)
    uri = tracking_uri(cfg)
    db = sqlite_path(uri)
    if must_exist and db is not None and not db.is_file():
        raise PeakTradeError(f"no MLflow store at {db} (nothing tracked yet; tracking URI {redact_uri(uri)})")
    if db is not None and not must_exist:
        check_sqlite(db)
    from peaktrade._telemetry import mlflow_telemetry_off

    mlflow_telemetry_off()  # before MLflow's first import in this process (and again if it came first)
    from mlflow import MlflowClient

    return Store(client=MlflowClient(tracking_uri=uri), uri=uri, artifacts=artifact_root(cfg))
