"""The watchdog: a running session that stops writing is reported as "heartbeat missed".

Every session writes an event at least every ``heartbeat_seconds`` (recorded in its ``meta.json``) from its
run loop. A session whose meta says ``running`` and whose newest event is older than two intervals has
stopped: killed (``kill -9``, the process is gone) or hung (alive but its loop no longer runs). The
watchdog raises one ``heartbeat_missed`` event per stall (typed, critical), appends it to
``<runs dir>/watchdog.jsonl`` (run logs are never modified by readers) and hands it to the alerts. The
dashboard and ``peaktrade monitor`` run it; the file makes two watchdogs raise a stall once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
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
MISSED_AFTER = 2.0


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

    def _raised(self) -> set[tuple[str, Any]]:
        """(run id, last seq) of every stall already raised, by any watchdog (from the file)."""
        out: set[tuple[str, Any]] = set()
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()[-5000:]
        except OSError:
            return out
        for raw in lines:
            try:
                d = json.loads(raw)
                out.add((d["run_id"], d["payload"].get("last_seq")))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        return out

    def check(self) -> list[Event]:
        """Look at every running session once; return the ``heartbeat_missed`` events raised now."""
        health = [h for h in running_sessions(self.runs_dir, now=self.clock()) if h.missed]
        if not health:
            return []
        raised = self._raised()
        out = []
        for h in health:
            if (h.run_id, h.last_seq) in raised:
                continue
            alive = h.status == RUNNING
            age = "never" if h.heartbeat_age is None else f"{h.heartbeat_age:,.1f} s ago"
            msg = (f"no event from the session for more than {MISSED_AFTER:g} heartbeat intervals (last {age}, "
                   f"interval {h.interval:g} s): " + (f"process {h.pid} is alive but its loop does not run (hung)"
                                                       if alive else f"process {h.pid} is gone (killed or crashed)"))
            ev = Event.make(EventKind.HEARTBEAT_MISSED, h.run_id, msg, environment=h.environment,
                            payload={"heartbeat_age": h.heartbeat_age, "interval": h.interval, "last_seq": h.last_seq,
                                     "pid": h.pid, "process_alive": alive, "strategy": h.strategy,
                                     "symbol": h.symbol})
            self._append(ev)
            if self.alerts is not None:
                self.alerts.submit(ev)
            if self.on_event is not None:
                self.on_event(ev)
            out.append(ev)
        return out

    def _append(self, ev: Event) -> None:
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(ev.to_dict(), default=str) + "\n")
        except OSError:
            pass  # the event still goes to the alerts and the caller

    def run(self, *, every: float, stop: Callable[[], bool] = lambda: False,
            sleep: Callable[[float], None] = time.sleep) -> None:
        """Check every ``every`` seconds until ``stop()``."""
        while not stop():
            self.check()
            sleep(every)


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
