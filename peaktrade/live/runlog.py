"""Run logs of paper/shadow/testnet/live sessions: ``<runs dir>/<run_id>/``.

Layout of one run directory:

``meta.json``
    Who and what: run id, environment, strategy, parameters, symbol, timeframe, config hash and
    sanitized config, pid/host of the process, start/end, status (``running``, ``completed``,
    ``stopped``, ``crashed``) and, once finished, a summary. Always replaced atomically (temp file,
    fsync, ``os.replace``), so a reader sees the old or the new version, never a torn one.
``events.jsonl``
    Append-only, one JSON object per line: ``{"seq", "type", "time", "wall", "payload"}`` with
    ``type`` one of :data:`EVENT_TYPES`, ``time`` the market time (ISO 8601 UTC, or null) and
    ``wall`` the wall-clock time of writing. Events are buffered per *batch* — one bar and
    everything it caused — and each batch is written with one ``write`` call, then synced to disk
    (``fdatasync`` where available, else ``fsync``). After ``kill -9`` (or a power loss) a run
    therefore loses at most the batch in flight, and at worst the file ends in a partial line,
    which :func:`read_events` reports and tolerates.
``events.parquet``
    The same events as a table, written when a session ends (the jsonl file is kept).
``trades.parquet``
    The closed round trips of the session's ledger, written when a session ends.

A run whose meta says ``running`` but whose process is gone (pid recorded in meta, checked with
``os.kill(pid, 0)``, zombie and pid-reuse aware on Linux) is reported as ``crashed`` by
:func:`effective_status` and :func:`list_runs`; the files are never modified by readers.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import socket
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from peaktrade.errors import PeakTradeError

META_FILE = "meta.json"
EVENTS_FILE = "events.jsonl"
EVENTS_PARQUET = "events.parquet"
TRADES_PARQUET = "trades.parquet"

#: Event types of ``events.jsonl``.
EVENT_TYPES = ("bar", "signal", "order", "fill", "denial", "equity", "position", "session")

RUNNING, COMPLETED, STOPPED, CRASHED = "running", "completed", "stopped", "crashed"
#: Statuses after which a run never changes again.
FINAL_STATUSES = frozenset({COMPLETED, STOPPED, CRASHED})


class RunLogError(PeakTradeError):
    """A run log is missing, unreadable or corrupted (the message names the file and line)."""


class RunLogWarning(UserWarning):
    """Corrupted lines were skipped while reading a run log (``errors="skip"``)."""


# -- JSON helpers --------------------------------------------------------------------------------
def _jsonable(v: Any) -> Any:
    """Return ``v`` as plain JSON data: timestamps as ISO strings, NaN/inf as null, numpy as Python."""
    if v is None or isinstance(v, (str, bool)):
        return v
    if isinstance(v, (int, np.integer)) and not isinstance(v, np.bool_):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, pd.Timestamp):
        return None if v is pd.NaT else iso_time(v)
    if isinstance(v, (datetime, date)):
        return iso_time(pd.Timestamp(v))
    if isinstance(v, pd.Timedelta):
        return str(v)
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset, np.ndarray)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "value") and isinstance(getattr(v, "value"), (str, int)):  # enums
        return v.value
    return str(v)


def iso_time(ts: Any) -> str | None:
    """Return ``ts`` as an ISO 8601 UTC string (naive times are read as UTC), None for None/NaT."""
    if ts is None:
        return None
    t = pd.Timestamp(ts)
    if t is pd.NaT:
        return None
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.isoformat()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically: temp file in the same directory, fsync, rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    text = json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _sync(fd: int) -> None:
    # fdatasync flushes the data and the metadata needed to read it back (the file size) — all an
    # append-only log needs — and skips timestamps, so it is cheaper than fsync
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


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


# -- writer --------------------------------------------------------------------------------------
def new_run_id(environment: str, strategy: str, *, now: datetime | None = None) -> str:
    """Return a fresh, time-sortable run id: ``YYYYmmdd-HHMMSS-<environment>-<strategy>-<6 hex>``."""
    now = now or datetime.now(timezone.utc)
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in strategy)
    return f"{now:%Y%m%d-%H%M%S}-{environment}-{safe}-{secrets.token_hex(3)}"


class RunLog:
    """Writer of one run directory: atomic ``meta.json`` and an append-only ``events.jsonl``.

    Use :meth:`create`; add events with :meth:`event` (buffered) and end each batch with
    :meth:`flush` (one ``write``, then a sync to disk); finish with :meth:`close`.
    """

    def __init__(self, run_dir: Path, meta: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.meta = meta
        self.seq = 0
        self._buf: list[bytes] = []
        self._fd: int | None = os.open(self.run_dir / EVENTS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.closed = False

    @classmethod
    def create(cls, runs_dir: str | os.PathLike[str], run_id: str, meta: Mapping[str, Any]) -> "RunLog":
        """Create ``runs_dir/run_id`` (which must not exist) with ``meta.json`` (status running)."""
        root = Path(runs_dir)
        root.mkdir(parents=True, exist_ok=True)
        run_dir = root / run_id
        try:
            run_dir.mkdir()
        except FileExistsError:
            raise RunLogError(f"run directory {run_dir} already exists: run ids must be unique") from None
        full = {
            "run_id": run_id,
            **dict(meta),
            "status": RUNNING,
            "pid": os.getpid(),
            "pid_start": process_start_time(os.getpid()),
            "host": socket.gethostname(),
            "started_at": _now(),
            "ended_at": None,
            "summary": None,
        }
        write_json_atomic(run_dir / META_FILE, full)
        return cls(run_dir, full)

    def event(self, type: str, time: Any, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Buffer one event (written at the next :meth:`flush`) and return it as written."""
        if type not in EVENT_TYPES:
            raise RunLogError(f"event type {type!r} is invalid: expected one of {', '.join(EVENT_TYPES)}")
        if self.closed:
            raise RunLogError(f"run log {self.run_dir} is closed")
        self.seq += 1
        ev = {"seq": self.seq, "type": type, "time": iso_time(time), "wall": _now(),
              "payload": _jsonable(dict(payload or {}))}
        self._buf.append(json.dumps(ev, separators=(",", ":"), allow_nan=False).encode() + b"\n")
        return ev

    def flush(self) -> None:
        """Write the buffered batch with one ``write`` call, then sync it to disk (the end of a batch)."""
        if not self._buf or self._fd is None:
            return
        data = b"".join(self._buf)
        self._buf.clear()
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        _sync(self._fd)

    def update_meta(self, **fields: Any) -> None:
        """Merge ``fields`` into meta and rewrite ``meta.json`` atomically."""
        self.meta.update(fields)
        write_json_atomic(self.run_dir / META_FILE, self.meta)

    def close(self, status: str, summary: Mapping[str, Any] | None = None, *, error: str | None = None,
              trades: pd.DataFrame | None = None) -> None:
        """Flush, write ``events.parquet`` (and ``trades.parquet``), then the final meta."""
        if self.closed:
            return
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.closed = True
        extra: dict[str, Any] = {}
        try:
            events_to_parquet(self.run_dir)
            if trades is not None:
                trades.to_parquet(self.run_dir / TRADES_PARQUET)
        except Exception as e:  # noqa: BLE001 — the jsonl is the record; a failed conversion is noted
            extra["parquet_error"] = f"{type(e).__name__}: {e}"
        self.update_meta(status=status, ended_at=_now(), summary=dict(summary or {}), error=error, **extra)


# -- readers -------------------------------------------------------------------------------------
def _check_event(obj: Any) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("seq"), int) and obj.get("type") in EVENT_TYPES
            and "payload" in obj)


@dataclass
class EventLog:
    """Events read from ``events.jsonl``.

    Attributes
    ----------
    events
        The events, in file order (dicts as written).
    truncated_tail
        The raw text of an incomplete or corrupted *last* line (an event in flight when the writer
        died), or None when the file ends cleanly.
    truncated_line
        The 1-based line number of that tail.
    skipped
        1-based numbers of corrupted lines in the middle that were skipped (``errors="skip"``).
    """

    path: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    truncated_tail: str | None = None
    truncated_line: int | None = None
    skipped: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self):
        return iter(self.events)

    def of_type(self, type: str) -> list[dict[str, Any]]:
        """Return the events of one type."""
        return [e for e in self.events if e["type"] == type]

    def frame(self) -> pd.DataFrame:
        """Return the events as a DataFrame (seq, type, time, wall, payload as a dict)."""
        return _events_frame(self.events, payload_json=False)


def _events_frame(events: list[dict[str, Any]], *, payload_json: bool) -> pd.DataFrame:
    return pd.DataFrame({
        "seq": pd.array([e["seq"] for e in events], dtype="int64"),
        "type": pd.array([e["type"] for e in events], dtype="string"),
        "time": pd.to_datetime([e.get("time") for e in events], utc=True, format="ISO8601"),
        "wall": pd.to_datetime([e.get("wall") for e in events], utc=True, format="ISO8601"),
        "payload": [json.dumps(e.get("payload"), separators=(",", ":")) if payload_json else e.get("payload")
                    for e in events],
    })


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return obj if _check_event(obj) else None


def _events_path(run_dir: str | os.PathLike[str]) -> Path:
    p = Path(run_dir)
    return p if p.name == EVENTS_FILE else p / EVENTS_FILE


def read_events(run_dir: str | os.PathLike[str], *, errors: Literal["raise", "skip"] = "raise") -> EventLog:
    """Read a run's ``events.jsonl`` without modifying it.

    A corrupted or incomplete **last** line is what a writer killed mid-write leaves behind: it is
    tolerated and reported in :attr:`EventLog.truncated_tail`. A corrupted line **before** the last
    one means the file was damaged: by default (``errors="raise"``) a :class:`RunLogError` names the
    file and the line number; with ``errors="skip"`` such lines are skipped, their numbers kept in
    :attr:`EventLog.skipped` and a :class:`RunLogWarning` gives the count.

    Parameters
    ----------
    run_dir
        The run directory (or the ``events.jsonl`` path itself).
    errors
        ``"raise"`` (default) or ``"skip"``.
    """
    if errors not in ("raise", "skip"):
        raise RunLogError(f"errors={errors!r} is invalid: expected 'raise' or 'skip'")
    path = _events_path(run_dir)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RunLogError(f"no event log at {path}") from None
    out = EventLog(path)
    lines = data.split(b"\n")
    # a file ending in "\n" splits into [..., b""]: the empty last piece is not a line
    if lines and lines[-1] == b"":
        lines.pop()
        last_terminated = True
    else:
        last_terminated = False
    n = len(lines)
    for i, raw in enumerate(lines, start=1):
        is_last = i == n
        if not raw.strip() and not is_last:
            bad = True
            ev = None
        else:
            ev = _parse_line(raw)
            bad = ev is None
        if is_last and not last_terminated and ev is not None:
            out.events.append(ev)  # complete JSON cut just before its newline: the event is whole
            continue
        if not bad:
            out.events.append(ev)  # type: ignore[arg-type]
            continue
        if is_last:
            out.truncated_tail = raw.decode("utf-8", errors="replace")
            out.truncated_line = i
        elif errors == "raise":
            shown = raw[:80].decode("utf-8", errors="replace")
            raise RunLogError(f"{path} line {i} is corrupted (not a complete event): {shown!r}; "
                              f"read with errors='skip' to skip damaged lines")
        else:
            out.skipped.append(i)
    if out.skipped:
        warnings.warn(f"{path}: skipped {len(out.skipped)} corrupted line(s) (lines "
                      f"{', '.join(map(str, out.skipped[:10]))}{', ...' if len(out.skipped) > 10 else ''})",
                      RunLogWarning, stacklevel=2)
    return out


def events_to_parquet(run_dir: str | os.PathLike[str]) -> Path:
    """Write ``events.parquet`` from ``events.jsonl`` (payload as a JSON string column); return its path."""
    run_dir = Path(run_dir)
    log = read_events(run_dir)
    df = _events_frame(log.events, payload_json=True)
    out = run_dir / EVENTS_PARQUET
    tmp = run_dir / f".{EVENTS_PARQUET}.tmp-{os.getpid()}"
    df.to_parquet(tmp, index=False)
    os.replace(tmp, out)
    return out


class EventTail:
    """Incremental reader of a growing ``events.jsonl`` (what ``runs tail --follow`` uses).

    :meth:`poll` returns the events completed since the previous call; a partial last line is
    kept until its newline arrives. A corrupted complete line raises :class:`RunLogError`.
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, from_start: bool = True) -> None:
        self.path = _events_path(run_dir)
        self.offset = 0
        self.line = 0
        self._rest = b""
        if not from_start and self.path.exists():
            data = self.path.read_bytes()
            cut = data.rfind(b"\n") + 1
            self.offset = cut
            self.line = data[:cut].count(b"\n")

    @property
    def pending(self) -> bool:
        """Whether the file ends in a partial line (not returned yet)."""
        return bool(self._rest.strip())

    def poll(self) -> list[dict[str, Any]]:
        """Return the newly completed events."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        data = self._rest + chunk
        *complete, self._rest = data.split(b"\n")
        out = []
        for raw in complete:
            self.line += 1
            ev = _parse_line(raw)
            if ev is None:
                raise RunLogError(f"{self.path} line {self.line} is corrupted (not a complete event): "
                                  f"{raw[:80].decode('utf-8', errors='replace')!r}")
            out.append(ev)
        return out


def read_meta(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Return a run's ``meta.json``."""
    path = Path(run_dir) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunLogError(f"no run metadata at {path}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise RunLogError(f"{path} is not valid JSON: {e}") from None
    except OSError as e:
        raise RunLogError(f"{path} cannot be read: {e.strerror or e}") from None
    if not isinstance(meta, dict):
        raise RunLogError(f"{path} is not a JSON object (it holds a {type(meta).__name__})")
    return meta


def count_events(run_dir: str | os.PathLike[str]) -> int:
    """Return the number of complete lines in ``events.jsonl`` (0 when absent), without parsing."""
    path = _events_path(run_dir)
    n = 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                n += chunk.count(b"\n")
    except FileNotFoundError:
        return 0
    return n


def last_event(run_dir: str | os.PathLike[str], type: str | None = None, *,
               window: int = 1 << 16) -> dict[str, Any] | None:
    """Return the last complete event (of ``type``) from the end of ``events.jsonl``, or None."""
    path = _events_path(run_dir)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(max(0, size - window))
            data = f.read()
    except FileNotFoundError:
        return None
    for raw in reversed(data.split(b"\n")):
        ev = _parse_line(raw) if raw.strip() else None
        if ev is not None and (type is None or ev["type"] == type):
            return ev
    return None


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
    matches = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name.startswith(ref)) \
        if root.is_dir() and ref else []
    if len(matches) == 1:
        return root / matches[0]
    if not matches:
        raise RunLogError(f"no run {ref!r} in {root} (see `peaktrade runs list`)")
    raise RunLogError(f"run id {ref!r} is ambiguous in {root}: matches {', '.join(matches[:5])}"
                      + (", ..." if len(matches) > 5 else ""))

