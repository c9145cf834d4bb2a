"""A real PostgreSQL for the tracking-server tests: started by ``.ci/run`` or, where the binaries exist, here.

``.ci/run`` starts one cluster before ``make test`` (``python3 tests/tracking/postgres_fixture.py start DIR``
prints its URI, exported as :data:`ENV_URI`) and stops it after (``... stop DIR``). Without that variable the
``postgres_uri`` fixture starts a cluster of its own when PostgreSQL's binaries are installed (initdb is about
a second), and skips, saying why, where there are none. Each test module gets a fresh database of its own
(:func:`fresh_database`), so modules and xdist workers never see each other's runs.

The cluster listens on loopback only, on a free port, with password (SCRAM) authentication, so its URI carries
a secret as a real deployment's does. initdb refuses to run as root: as root, the server runs as the
``postgres`` system user (runuser), in a temporary directory that user owns.

This part is standard library only: ``.ci/run`` calls it with the system Python before the venv exists.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The URI of a running PostgreSQL superuser (``postgresql://USER:PASSWORD@127.0.0.1:PORT/postgres``).
ENV_URI = "PEAKTRADE_TEST_POSTGRES_URI"
USER = "peaktrade"
_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def pg_bin() -> Path | None:
    """Return the directory of ``initdb`` and ``pg_ctl`` (``$PG_BIN``, else the newest Debian install, else PATH)."""
    candidates = [os.environ.get("PG_BIN", "")]
    candidates += sorted(glob.glob(_BIN_GLOB), key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
                         reverse=True)
    found = shutil.which("initdb")
    candidates += [str(Path(found).parent)] if found else []
    for c in filter(None, candidates):
        if (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    """Return ``cmd`` run as the ``postgres`` user when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def start(base: Path | None = None) -> tuple[Path, str]:
    """Initialise and start a cluster in ``base`` (a new temporary directory by default).

    Returns
    -------
    (directory, uri)
        Pass the directory to :func:`stop`. The URI names the superuser :data:`USER` and its password.

    Raises
    ------
    RuntimeError
        Naming what failed (no binaries, initdb or pg_ctl output).
    """
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError(f"no PostgreSQL binaries (initdb, pg_ctl) in $PG_BIN, {_BIN_GLOB} or PATH")
    # not under pytest's tmp_path: its parents are private to the user running the tests (root in CI)
    base = Path(tempfile.mkdtemp(prefix="peaktrade-pg-")) if base is None else base
    base.mkdir(parents=True, exist_ok=True)
    data, pwfile = base / "data", base / "pwfile"
    password = secrets.token_urlsafe(18)
    pwfile.write_text(password + "\n", encoding="utf-8")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(pwfile, "postgres")
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    run = subprocess.run(_as_server_user([str(bindir / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile),
                                          "--auth", "scram-sha-256", "-E", "UTF8", "--no-sync"]),
                         capture_output=True, text=True, env=env, timeout=120)
    pwfile.unlink()
    if run.returncode:
        raise RuntimeError(f"initdb failed: {run.stderr.strip() or run.stdout.strip()}")
    for _attempt in range(3):  # a free port can be taken between choosing it and binding it
        port = _free_port()
        opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        run = subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"),
                                              "-o", opts, "-w", "-t", "60", "start"]),
                             capture_output=True, text=True, env=env, timeout=120)
        if run.returncode == 0:
            (base / "port").write_text(str(port), encoding="utf-8")
            return base, f"postgresql://{USER}:{password}@127.0.0.1:{port}/postgres"
    log = (base / "server.log").read_text(encoding="utf-8", errors="replace")[-2000:] if (base / "server.log").exists() else ""
    raise RuntimeError(f"pg_ctl start failed: {run.stderr.strip()} {log}")


def stop(base: Path) -> None:
    """Stop the cluster started in ``base`` (fast shutdown) and remove the directory."""
    bindir = pg_bin()
    if bindir is not None and (base / "data" / "postmaster.pid").exists():
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(base / "data"), "-m", "fast", "-w", "stop"]),
                       capture_output=True, text=True, timeout=120)
    shutil.rmtree(base, ignore_errors=True)


def fresh_database(uri: str, name: str) -> str:
    """Create database ``name`` on the server of ``uri`` (a superuser's) and return its URI."""
    import psycopg  # the driver MLflow's SQLAlchemy store uses for postgresql:// (psycopg 3)

    with psycopg.connect(uri, autocommit=True, connect_timeout=10) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return uri.rsplit("/", 1)[0] + "/" + name


def _wait_ready(uri: str, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(uri, connect_timeout=5).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


try:
    import pytest
except ImportError:  # run as a script by .ci/run with the system Python
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def postgres_uri() -> object:
        """Return a PostgreSQL superuser's URI: ``$PEAKTRADE_TEST_POSTGRES_URI`` (CI), else a cluster started for
        this session (this xdist worker) when the binaries are installed; skip, saying why, without either."""
        given = os.environ.get(ENV_URI, "").strip()
        if given:
            _wait_ready(given)
            yield given
            return
        if pg_bin() is None:
            pytest.skip(f"no PostgreSQL: {ENV_URI} is unset and no initdb/pg_ctl in $PG_BIN, {_BIN_GLOB} or PATH")
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            pytest.skip("no PostgreSQL: running as root without runuser, and initdb refuses root")
        base, uri = start()
        try:
            yield uri
        finally:
            stop(base)


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: postgres_fixture.py start|stop DIR  (start prints the URI; exit 3: no PostgreSQL)",
              file=sys.stderr)
        return 2
    base = Path(argv[1])
    if argv[0] == "stop":
        stop(base)
        return 0
    if pg_bin() is None:
        print(f"no PostgreSQL binaries (initdb, pg_ctl) in $PG_BIN, {_BIN_GLOB} or PATH", file=sys.stderr)
        return 3
    try:
        _, uri = start(base)
    except RuntimeError as e:
        print(f"PostgreSQL not started: {e}", file=sys.stderr)
        return 1
    print(uri)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
