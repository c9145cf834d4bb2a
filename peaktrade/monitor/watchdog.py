"""The watchdog: a running session that stops writing is reported as "heartbeat missed".

Every session writes an event at least every ``heartbeat_seconds`` (recorded in its ``meta.json``) from its
run loop. A session whose meta says ``running`` and whose newest event is older than :data:`MISSED_AFTER`
(1.5) intervals has stopped: killed (``kill -9``, the process is gone) or hung (alive but its loop no longer
runs). Checked every :data:`CHECK_FRACTION` (a quarter) of the shortest interval, a stall is raised at most
1.75 intervals after the last event — within the two intervals promised — while a heartbeat up to half an
interval late (the loop ticks every quarter interval while it waits) is not a stall. The watchdog raises one
``heartbeat_missed`` event per stall (typed, critical), appends it to ``<runs dir>/watchdog.jsonl`` (run logs
are never modified by readers; read, check and append under an exclusive lock) and hands it to the alerts.
The dashboard and ``peaktrade monitor`` run it; the file makes two watchdogs raise a stall once, and a
watchdog remembers what it raised even when the file cannot be written.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peaktrade.alerts.events import Event, EventKind
from peaktrade.live.runlog import RUNNING, RunLogError, effective_status, last_event, read_meta
from peaktrade.live.runlog.catalog import _looks_like_run

if TYPE_CHECKING:
    from peaktrade.alerts.dispatch import AlertDispatcher

#: The watchdog's own event log, in the runs directory (one JSON object per line).
WATCHDOG_FILE = "watchdog.jsonl"
#: Heartbeat interval assumed for runs written before heartbeats existed.
DEFAULT_INTERVAL = 30.0
#: A session is late after this many heartbeat intervals without an event.
MISSED_AFTER = 1.5
#: The watchdog checks at least every this fraction of a heartbeat interval (so a stall is raised at most
#: ``MISSED_AFTER + CHECK_FRACTION`` = 1.75 intervals after the last event, before two).
CHECK_FRACTION = 0.25


def check_every(heartbeat_seconds: float) -> float:
    """Seconds between watchdog checks for sessions heartbeating every ``heartbeat_seconds``."""
    return max(0.05, heartbeat_seconds * CHECK_FRACTION)


def _ts(iso: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class SessionHealth:
    """The liveness of one session whose meta says ``running``."""

    run_id: str
    run_dir: str
    environment: str
    strategy: str
    symbol: str
    status: str  # effective: running, or crashed when the process is gone
    pid: int | None
    interval: float
    heartbeat_age: float | None  # seconds since the newest event was written
    last_seq: int | None
    missed: bool  # no event for more than MISSED_AFTER intervals

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def running_sessions(runs_dir: str | os.PathLike[str], *, now: float | None = None) -> Iterator[SessionHealth]:
    """Yield the health of every run under ``runs_dir`` whose meta says ``running`` (finished runs are skipped)."""
    root = Path(runs_dir)
    if not root.is_dir():
        return
    now = time.time() if now is None else now
    for d in sorted(root.iterdir()):
        if not d.is_dir() or not _looks_like_run(d):
            continue
        try:
            meta = read_meta(d)
        except RunLogError:
            continue
        if meta.get("status") != RUNNING:
            continue
        yield session_health(d, meta, now=now)


def session_health(run_dir: Path, meta: dict[str, Any], *, now: float) -> SessionHealth:
    """Return the health of one running session (``now``: epoch seconds)."""
    interval = meta.get("heartbeat_seconds")
    interval = float(interval) if isinstance(interval, (int, float)) and interval > 0 else DEFAULT_INTERVAL
    ev = last_event(run_dir)
    last = _ts(ev.get("wall")) if ev else None
    if last is None:
        last = _ts(meta.get("started_at"))
    age = None if last is None else max(0.0, now - last)
    return SessionHealth(
        run_id=str(meta.get("run_id", run_dir.name)), run_dir=str(run_dir),
        environment=str(meta.get("environment", "?")), strategy=str(meta.get("strategy", "?")),
        symbol=str(meta.get("symbol", "?")), status=effective_status(meta),
        pid=meta.get("pid") if isinstance(meta.get("pid"), int) else None, interval=interval, heartbeat_age=age,
        last_seq=ev.get("seq") if ev else None,
        missed=age is None or age > MISSED_AFTER * interval)


class Watchdog:
    """Raise ``heartbeat_missed`` once per stalled session (see the module doc).

    Parameters
    ----------
    runs_dir
        Where the run logs are.
    alerts
        Receives each event (``submit`` never blocks); None: log only.
    clock
        Epoch seconds (tests pass a fake one).
    on_event
        Called with each raised event (the CLI prints it, the dashboard pushes it to its clients).
    """

    def __init__(self, runs_dir: str | os.PathLike[str], *, alerts: AlertDispatcher | None = None,
                 clock: Callable[[], float] = time.time, on_event: Callable[[Event], None] | None = None) -> None:
        self.runs_dir = Path(runs_dir)
        self.alerts = alerts
        self.clock = clock
        self.on_event = on_event
        self.path = self.runs_dir / WATCHDOG_FILE
        # stalls this watchdog raised, whatever became of the file (unwritable: raised once all the same)
        self._seen: set[tuple[str, Any]] = set()
        #: the shortest heartbeat interval of the running sessions at the last check (None: none running)
        self.shortest_interval: float | None = None

    def _read_raised(self, f: Any) -> set[tuple[str, Any]]:
        """(run id, last seq) of every stall already raised, by any watchdog (from the open, locked file)."""
        out: set[tuple[str, Any]] = set()
        try:
            f.seek(0)
            lines = f.read().splitlines()[-5000:]
        except (OSError, ValueError):
            return out
        for raw in lines:
            try:
                d = json.loads(raw)
                out.add((d["run_id"], d["payload"].get("last_seq")))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        return out

    @contextmanager
    def _locked_file(self) -> Iterator[Any]:
        """Yield ``watchdog.jsonl`` open for reading and appending under an exclusive lock (two watchdogs
        never both raise a stall), or None when it cannot be opened (then only memory de-duplicates)."""
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            f = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 — closed below, after the unlock
        except OSError:
            yield None
            return
        try:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield f
        finally:
            f.close()  # closing releases the lock

    def check(self) -> list[Event]:
        """Look at every running session once; return the ``heartbeat_missed`` events raised now."""
        running = list(running_sessions(self.runs_dir, now=self.clock()))
        self.shortest_interval = min((h.interval for h in running), default=None)
        health = [h for h in running if h.missed]
        if not health:
            return []
        out = []
        with self._locked_file() as f:
            raised = self._seen | (self._read_raised(f) if f is not None else set())
            for h in health:
                key = (h.run_id, h.last_seq)  # one stall: the run and its newest event (never the age)
                if key in raised:
                    continue
                self._seen.add(key)
                out.append(self._event(h))
                if f is not None:
                    try:
                        f.write(json.dumps(out[-1].to_dict(), default=str) + "\n")
                        f.flush()
                    except OSError:
                        pass  # the event still goes to the alerts and the caller
        for ev in out:
            if self.alerts is not None:
                self.alerts.submit(ev)
            if self.on_event is not None:
                self.on_event(ev)
        return out

    @staticmethod
    def _event(h: SessionHealth) -> Event:
        alive = h.status == RUNNING
        age = "never" if h.heartbeat_age is None else f"{h.heartbeat_age:,.1f} s ago"
        msg = (f"no event from the session for more than {MISSED_AFTER:g} heartbeat intervals (last {age}, "
               f"interval {h.interval:g} s): " + (f"process {h.pid} is alive but its loop does not run (hung)"
                                                   if alive else f"process {h.pid} is gone (killed or crashed)"))
        return Event.make(EventKind.HEARTBEAT_MISSED, h.run_id, msg, environment=h.environment,
                          payload={"heartbeat_age": h.heartbeat_age, "interval": h.interval, "last_seq": h.last_seq,
                                   "pid": h.pid, "process_alive": alive, "strategy": h.strategy, "symbol": h.symbol})

    def every(self, configured: float) -> float:
        """Seconds until the next check: ``configured``, or less when a running session heartbeats faster."""
        if self.shortest_interval is None:
            return configured
        return min(configured, check_every(self.shortest_interval))

    def run(self, *, every: float, stop: Callable[[], bool] = lambda: False,
            sleep: Callable[[float], None] = time.sleep) -> None:
        """Check every ``every`` seconds (less when a session heartbeats faster, see :meth:`every`) until
        ``stop()``."""
        while not stop():
            self.check()
            sleep(self.every(every))


def watchdog_events(runs_dir: str | os.PathLike[str], *, last: int = 100) -> list[dict[str, Any]]:
    """Return the last ``last`` events the watchdogs raised (newest last)."""
    try:
        lines = (Path(runs_dir) / WATCHDOG_FILE).read_text(encoding="utf-8").splitlines()[-last:]
    except OSError:
        return []
    out = []
    for raw in lines:
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue
    return out
