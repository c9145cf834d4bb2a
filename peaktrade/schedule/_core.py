"""Schedules: what runs (an experiment spec or a testnet profile's notebook), when, and the entry point a timer
or a crontab line calls (``peaktrade schedule run NAME``).

A schedule's record is ``<state dir>/schedule/NAME.json`` (per user, like the systemd user units and the
user crontab it is installed in); the entry point holds ``NAME.lock`` for the length of a run so runs of
one schedule never overlap, whoever starts them (timer, cron, by hand), and records the last run that ran
(not a skipped one) in ``NAME.last.json``. Every MLflow run a scheduled run makes carries the schedule's name (the
``PEAKTRADE_SCHEDULE`` variable, tagged by :func:`peaktrade.provenance.provenance_tags`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from peaktrade._files import atomic_write_json
from peaktrade._uri_secrets import has_password
from peaktrade.config import ENV_PATH_VAR, STATE_DIR_VAR
from peaktrade.provenance import SCHEDULE_RUN_VAR, SCHEDULE_VAR
from peaktrade.schedule._timing import ScheduleError, Timing

if TYPE_CHECKING:
    from peaktrade.config import Config

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: Variables carried from ``schedule add`` into every run: config overrides (``PEAKTRADE__SECTION__KEY``) and the
#: tracking store MLflow reads first; settings, never secrets (those come from the project's ``.env``).
_ENV_PREFIX = "PEAKTRADE__"
_CARRIED = ("MLFLOW_TRACKING_URI",)
#: A secret in a setting: ``password=`` / ``token=`` (a query or conninfo), anything named secret.
_SECRET_WORDS = re.compile(r"password\s*=|token\s*=|secret", re.IGNORECASE)


def schedule_dir(config: Config) -> Path:
    """Return the directory of the schedule records, locks and cron logs (``<state dir>/schedule``)."""
    return config.state_dir / "schedule"


@dataclass(frozen=True)
class Schedule:
    """One schedule: its name, what it runs, when, and where it runs from."""

    name: str
    #: ``experiment`` (``experiment run SPEC``) or ``testnet`` (``testnet orchestrate --profile P --notebook``).
    kind: str
    #: The spec's absolute path, or the profile's name.
    target: str
    timing: Timing
    #: Project root: the working directory of every run.
    root: Path
    #: Config file every run loads (absolute), None for the built-in defaults.
    config_path: str | None
    #: Variables every run gets: the state directory resolved at ``add`` (the kill switch, budgets and locks
    #: a scheduled run obeys are the ones of the user who added it), and the config overrides then set.
    env: dict[str, str]
    backend: str
    python: str = sys.executable
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def _cli(self, *args: str) -> list[str]:
        # `python -m` in the project root: the venv's interpreter, not whatever `peaktrade` is first on cron's PATH
        conf = ["--config", self.config_path] if self.config_path else []
        return [self.python, "-m", "peaktrade.cli.main", *conf, *args]

    def target_args(self) -> list[str]:
        """Return the ``peaktrade`` arguments of one run of the target."""
        if self.kind == "experiment":
            return ["experiment", "run", self.target]
        return ["testnet", "orchestrate", "--profile", self.target, "--notebook"]

    @property
    def target_text(self) -> str:
        """Return the target as the command it runs (``experiment run SPEC``)."""
        return " ".join(self.target_args())

    def entry_argv(self) -> list[str]:
        """Return the command a timer or a crontab line runs: the entry point ``schedule run NAME``."""
        return self._cli("schedule", "run", self.name)

    def run_argv(self) -> list[str]:
        """Return the command the entry point runs: the target through the ``peaktrade`` CLI."""
        return self._cli(*self.target_args())

    def to_json(self) -> dict[str, Any]:
        """Return the record written to ``NAME.json``."""
        return {"name": self.name, "kind": self.kind, "target": self.target, "timing": self.timing.__dict__,
                "root": str(self.root), "config_path": self.config_path, "env": self.env, "backend": self.backend,
                "python": self.python, "created": self.created}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Schedule:
        """Return the schedule of a record."""
        return cls(d["name"], d["kind"], d["target"], Timing(**d["timing"]), Path(d["root"]), d["config_path"],
                   dict(d["env"]), d["backend"], d["python"], d["created"])


def check_name(name: str) -> str:
    """Return ``name`` when it is a valid schedule name (it names units, files and crontab marks)."""
    if not _NAME.match(name):
        raise ScheduleError(f"schedule name {name!r} is invalid: expected 1-64 of a-z, 0-9, '-' and '_', "
                            "starting with a letter or digit")
    return name


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:64] or "schedule"


def resolve_target(config: Config, target: str) -> tuple[str, str, str]:
    """Return ``(kind, target, default name)`` of SPEC_OR_PROFILE: an experiment spec file (``.toml``, loaded and
    checked against its notebook now) or a configured testnet profile."""
    path = Path(target).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    if path.is_file() or target.endswith(".toml"):
        from peaktrade.experiments.batch import load_spec

        spec = load_spec(path, root=config.root)  # raises naming what is wrong; a missing file included
        return "experiment", str(path.resolve()), _slug(spec.name)
    if target in config.testnet.profiles:
        return "testnet", target, _slug(f"testnet-{target}")
    profiles = ", ".join(sorted(config.testnet.profiles)) or "none configured"
    raise ScheduleError(f"{target!r} is neither an experiment spec file (.toml) nor a testnet profile "
                        f"(profiles: {profiles})")


def _config_path(config: Config) -> str | None:
    from peaktrade.experiments.kernel import kernel_config_env

    return kernel_config_env(config).get(ENV_PATH_VAR)


def _record(config: Config, name: str) -> Path:
    return schedule_dir(config) / f"{check_name(name)}.json"


def load_schedule(config: Config, name: str) -> Schedule:
    """Return the schedule ``name``; raise :class:`ScheduleError` when there is none."""
    p = _record(config, name)
    try:
        return Schedule.from_json(json.loads(p.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ScheduleError(f"no schedule named {name!r} (see `peaktrade schedule list`)") from None
    except (ValueError, KeyError, TypeError) as e:
        raise ScheduleError(f"schedule record {p} is unreadable ({type(e).__name__}: {e}); remove it with "
                            f"`peaktrade schedule remove {name}`") from None


def plan_schedule(config: Config, target: str, timing: Timing, *, name: str | None = None,
                  backend: str | None = None) -> Schedule:
    """Return the schedule ``add`` would install (validated; nothing written)."""
    from peaktrade.schedule._install import installer

    kind, resolved, default = resolve_target(config, target)
    return Schedule(check_name(name or default), kind, resolved, timing, config.root, _config_path(config),
                    _carried_env(config), installer(config, backend).backend)


def _carried_env(config: Config) -> dict[str, str]:
    """Return the variables a schedule writes into its unit or crontab line; refuse credentials among them (a
    unit file is readable by others, and a crontab line is the command line of cron's shell, seen by ``ps``)."""
    env = {STATE_DIR_VAR: str(config.state_dir)}
    for k, v in sorted(os.environ.items()):
        if k.startswith(_ENV_PREFIX) or k in _CARRIED:
            if has_password(v) or _SECRET_WORDS.search(unquote_plus(v)):  # the value is never echoed
                raise ScheduleError(f"{k} holds a credential in a URL or a password/token/secret setting: a schedule "
                                    "writes its variables into the timer unit or crontab line; set it without it "
                                    "(MLflow reads MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, PostgreSQL "
                                    "PGPASSWORD or ~/.pgpass)")
            env[k] = v
    return env


def add_schedule(config: Config, s: Schedule) -> list[str]:
    """Record and install ``s``; refuse a name in use (nothing stored is replaced). Return what was done."""
    from peaktrade.schedule._install import installer

    rec = _record(config, s.name)
    if rec.exists():
        raise ScheduleError(f"a schedule named {s.name!r} exists ({load_schedule(config, s.name).timing.text}): "
                            f"remove it first (`peaktrade schedule remove {s.name}`) or give --name")
    atomic_write_json(rec, s.to_json(), indent=2)  # first: the installed unit's first run needs it
    try:
        return installer(config, s.backend).install(s)
    except BaseException:
        rec.unlink(missing_ok=True)
        raise


def remove_schedule(config: Config, name: str) -> list[str]:
    """Uninstall schedule ``name`` and delete its record; raise when there is no such schedule."""
    from peaktrade.schedule._install import installer

    rec = _record(config, name)
    try:
        backend = load_schedule(config, name).backend
    except ScheduleError:
        if rec.exists():  # an unreadable record: still uninstall whatever is there under that name
            backend = None
        else:
            raise
    backends = [backend] if backend else ["systemd", "cron"]
    done = [line for b in backends for line in installer(config, b).remove(name)]
    if rec.exists():
        rec.unlink()
        done.append(f"removed {rec}")
    (schedule_dir(config) / f"{name}.last.json").unlink(missing_ok=True)
    return done


def list_schedules(config: Config) -> list[dict[str, Any]]:
    """Return every schedule: its record, whether it is installed where it says, and its last run."""
    from peaktrade.schedule._install import installer

    d = schedule_dir(config)
    out = []
    installed: dict[str, set[str]] = {}
    for rec in sorted(d.glob("*.json")) if d.is_dir() else []:
        if rec.name.endswith(".last.json"):
            continue
        s = load_schedule(config, rec.stem)
        if s.backend not in installed:
            try:
                installed[s.backend] = installer(config, s.backend).installed()
            except ScheduleError:  # cannot tell (no crontab command): shown as not installed, listed anyway
                installed[s.backend] = set()
        last = d / f"{s.name}.last.json"
        out.append({"name": s.name, "timing": s.timing.text, "target": s.target_text, "backend": s.backend,
                    "installed": s.name in installed[s.backend], "root": str(s.root),
                    "last_run": json.loads(last.read_text(encoding="utf-8")) if last.exists() else None})
    return out


@dataclass(frozen=True)
class ScheduledRun:
    """What one call of the entry point did."""

    name: str
    #: ``ok``, ``failed`` (the target exited non-zero) or ``skipped`` (the last run still holds the lock).
    status: str
    exit_code: int
    started: str
    seconds: float = 0.0
    #: Who holds the lock when skipped: ``{"pid", "host", "started", "run"}``.
    holder: dict[str, Any] | None = None
    run: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_schedule(config: Config, name: str) -> ScheduledRun:
    """Run schedule ``name`` once, unless its previous run still runs (then skip, naming that run).

    The target runs as ``peaktrade [--config C] experiment run SPEC`` (or ``testnet orchestrate --profile P
    --notebook``) in the project root, its output going to this process's stdout/stderr (the journal, or the
    cron log), with ``PEAKTRADE_SCHEDULE=NAME`` and ``PEAKTRADE_SCHEDULE_RUN=<run id>`` set so every MLflow run
    it makes is tagged ``peaktrade.schedule`` / ``peaktrade.schedule_run``.
    """
    s = load_schedule(config, name)
    d = schedule_dir(config)
    d.mkdir(parents=True, exist_ok=True)
    started = _now()
    run_id = f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}"
    fd = os.open(d / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            except ValueError:
                holder = {}
            # the record of the last run is left as it is: it is that run's, and it has not ended yet
            return ScheduledRun(name, "skipped", 0, started, holder=holder)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started,
                                  "run": run_id}).encode(), 0)
        env = {**os.environ, **s.env, SCHEDULE_VAR: name, SCHEDULE_RUN_VAR: run_id}
        if s.config_path:
            # every process under the run loads the schedule's config, not only the CLI given --config: the
            # notebook kernel `testnet orchestrate --notebook` starts reads PEAK_TRADE_CONFIG_PATH, and cron
            # or a timer has none of the variables of the shell that added the schedule
            env[ENV_PATH_VAR] = s.config_path
        t0 = time.monotonic()
        try:
            # the run inherits the locked descriptor: the lock lasts as long as any process of the run, even
            # when this one is killed first
            code = subprocess.run(s.run_argv(), cwd=s.root, env=env, check=False, pass_fds=(fd,)).returncode
        except OSError as e:
            raise ScheduleError(f"schedule {name}: cannot start {s.run_argv()[0]} ({e}); re-add the schedule from "
                                "the environment it should use") from None
        res = ScheduledRun(name, "ok" if code == 0 else "failed", code, started, time.monotonic() - t0, run=run_id)
        _write_last(d, res)
        return res
    finally:
        os.close(fd)  # closing releases the flock


def _write_last(d: Path, res: ScheduledRun) -> None:
    atomic_write_json(d / f"{res.name}.last.json", {**res.__dict__, "ended": _now()}, indent=2)
