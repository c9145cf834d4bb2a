"""The catalog of run logs: run ids, statuses (running, completed, stopped, crashed, damaged), listing.

A run whose meta says ``running`` but whose process is gone (pid recorded in meta, checked with
``os.kill(pid, 0)``, zombie and pid-reuse aware on Linux) is reported as ``crashed`` by
:func:`effective_status` and :func:`list_runs`; the files are never modified.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peaktrade._ids import resolve_prefix
from peaktrade.live.runlog.reader import EVENTS_FILE, META_FILE, RunLogError, count_events, last_event, read_meta

RUNNING, COMPLETED, STOPPED, CRASHED = "running", "completed", "stopped", "crashed"
#: Statuses after which a run never changes again.
FINAL_STATUSES = frozenset({COMPLETED, STOPPED, CRASHED})


# -- process liveness ----------------------------------------------------------------------------
def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after the last ')'
    return raw[raw.rfind(")") + 2:].split()


def process_start_time(pid: int) -> int | None:
    """Return the start time of process ``pid`` in clock ticks since boot (Linux), else None."""
    fields = _proc_stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):  # pragma: no cover
        return None


def pid_alive(pid: int, start_time: int | None = None) -> bool:
    """Return whether process ``pid`` runs (``os.kill(pid, 0)``); zombies and reused pids count as gone."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:  # pragma: no cover
        return False
    fields = _proc_stat(pid)
    if fields:
        if fields[0] in ("Z", "X"):
            return False
        if start_time is not None:
            try:
                return int(fields[19]) == int(start_time)
            except (IndexError, ValueError):  # pragma: no cover
                return True
    return True


def effective_status(meta: Mapping[str, Any]) -> str:
    """Return the run's status, ``crashed`` when meta says ``running`` but its process is gone.

    A process on another host cannot be checked: its run stays ``running``.
    """
    status = str(meta.get("status", "unknown"))
    if status != RUNNING:
        return status
    pid = meta.get("pid")
    host = meta.get("host")
    if host is not None and host != socket.gethostname():
        return status
    if not isinstance(pid, int) or not pid_alive(pid, meta.get("pid_start")):
        return CRASHED
    return status

# -- run ids -------------------------------------------------------------------------------------
def new_run_id(environment: str, strategy: str, *, now: datetime | None = None) -> str:
    """Return a fresh, time-sortable run id: ``YYYYmmdd-HHMMSS-<environment>-<strategy>-<6 hex>``."""
    now = now or datetime.now(UTC)
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in strategy)
    return f"{now:%Y%m%d-%H%M%S}-{environment}-{safe}-{secrets.token_hex(3)}"



# -- listing -------------------------------------------------------------------------------------
@dataclass
class RunInfo:
    """One row of :func:`list_runs`."""

    run_id: str
    run_dir: Path
    meta: dict[str, Any]
    status: str
    n_events: int
    final_equity: float | None

    @property
    def environment(self) -> str:
        return str(self.meta.get("environment", "?"))

    @property
    def strategy(self) -> str:
        return str(self.meta.get("strategy", "?"))

    @property
    def symbol(self) -> str:
        return str(self.meta.get("symbol", "?"))

    @property
    def started_at(self) -> str | None:
        return self.meta.get("started_at")


def run_info(run_dir: str | os.PathLike[str]) -> RunInfo:
    """Return the :class:`RunInfo` of one run directory (effective status, event count, equity)."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    summary = meta.get("summary")
    summary = summary if isinstance(summary, dict) else {}
    equity = summary.get("final_equity")
    if equity is None:
        ev = last_event(run_dir, "equity")
        equity = ev["payload"].get("equity") if ev else None
    return RunInfo(run_dir.name, run_dir, meta, effective_status(meta), count_events(run_dir),
                   float(equity) if isinstance(equity, (int, float)) else None)


#: Status of a run directory whose ``meta.json`` is missing, unreadable or not a JSON object.
DAMAGED = "damaged"
_RUN_ID = re.compile(r"^\d{8}-\d{6}-")


def _looks_like_run(d: Path) -> bool:
    """A directory is a run when it holds a run file or is named like a run id (never e.g. ``notebooks``)."""
    return (d / META_FILE).exists() or (d / EVENTS_FILE).exists() or bool(_RUN_ID.match(d.name))


def list_runs(runs_dir: str | os.PathLike[str]) -> list[RunInfo]:
    """Return the runs under ``runs_dir``, newest first.

    A run whose ``meta.json`` is missing, unreadable or not a JSON object is listed with status
    ``damaged`` (its ``meta`` holds only ``error``), never hidden and never a crash of the listing.
    """
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if not d.is_dir() or not _looks_like_run(d):
            continue
        try:
            out.append(run_info(d))
        except (RunLogError, OSError) as e:
            try:
                n = count_events(d)
            except OSError:
                n = 0
            out.append(RunInfo(d.name, d, {"error": str(e)}, DAMAGED, n, None))
    out.sort(key=lambda r: (str(r.meta.get("started_at") or ""), r.run_id), reverse=True)
    return out


def find_run(runs_dir: str | os.PathLike[str], ref: str) -> Path:
    """Return the directory of run ``ref`` (an id, a unique id prefix, or a path to a run directory)."""
    p = Path(ref)
    if (p / META_FILE).is_file():
        return p
    root = Path(runs_dir)
    if ref and (root / ref / META_FILE).is_file():
        return root / ref
    # the one prefix rule of every run id (peaktrade/_ids.py): >= 6 characters, unique
    names = [d.name for d in root.iterdir() if d.is_dir()] if root.is_dir() else []
    return root / resolve_prefix(ref, names, where=f" in {root} (see `peaktrade runs list`)", error=RunLogError)

