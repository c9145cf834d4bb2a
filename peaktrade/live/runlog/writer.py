"""The writer of one run directory: atomic ``meta.json`` and a buffered, synced ``events.jsonl``.

See :mod:`peaktrade.live.runlog` for the layout. :meth:`RunLog.event` is on the session loop: it only
serializes into a buffer; :meth:`RunLog.flush` writes a batch with one ``write`` and one sync.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from peaktrade._files import atomic_write, atomic_write_json, iso_time, jsonable
from peaktrade.alerts.events import DEFAULT_SEVERITY, EventKind, Severity, classify
from peaktrade.live.runlog.catalog import RUNNING, process_start_time
from peaktrade.live.runlog.reader import (
    EVENT_TYPES,
    EVENTS_FILE,
    EVENTS_PARQUET,
    META_FILE,
    TRADES_PARQUET,
    RunLogError,
    _events_frame,
    read_events,
    read_meta,
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _sync(fd: int) -> None:
    # fdatasync flushes the data and the metadata needed to read it back (the file size) — all an
    # append-only log needs — and skips timestamps, so it is cheaper than fsync
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


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
    def create(cls, runs_dir: str | os.PathLike[str], run_id: str, meta: Mapping[str, Any]) -> RunLog:
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
        atomic_write_json(run_dir / META_FILE, full)
        return cls(run_dir, full)

    @classmethod
    def reopen(cls, run_dir: str | os.PathLike[str], **meta: Any) -> tuple[RunLog, str | None]:
        """Reopen an ended or crashed run to append to it (``peaktrade runs resume``); return it and the
        partial last line a writer killed mid-write left behind (cut off, so the next event starts on a
        line of its own; None when there was none).

        ``meta`` is merged into ``meta.json``, which says ``running`` again under this process.
        """
        run_dir = Path(run_dir)
        path = run_dir / EVENTS_FILE
        data = path.read_bytes() if path.is_file() else b""
        cut = None
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            cut = data[keep:].decode("utf-8", errors="replace")
            with open(path, "r+b") as f:
                f.truncate(keep)
                _sync(f.fileno())
        events = read_events(run_dir).events if data else []
        old = read_meta(run_dir)
        full = {**old, **meta, "status": RUNNING, "pid": os.getpid(), "pid_start": process_start_time(os.getpid()),
                "host": socket.gethostname(), "ended_at": None, "summary": None, "error": None}
        atomic_write_json(run_dir / META_FILE, full)
        log = cls(run_dir, full)
        log.seq = max((int(e.get("seq", 0)) for e in events), default=0)
        return log, cut

    def event(self, type: str, time: Any, payload: Mapping[str, Any] | None = None, *,
              kind: EventKind | None = None, severity: Severity | None = None) -> dict[str, Any]:
        """Buffer one event (written at the next :meth:`flush`) and return it as written.

        An event that means something to an operator also gets ``kind`` and ``severity`` (the taxonomy of
        :mod:`peaktrade.alerts.events`): given, or derived from ``type`` and ``payload`` by ``classify``.
        """
        if type not in EVENT_TYPES:
            raise RunLogError(f"event type {type!r} is invalid: expected one of {', '.join(EVENT_TYPES)}")
        if self.closed:
            raise RunLogError(f"run log {self.run_dir} is closed")
        payload = dict(payload or {})
        if kind is None:
            got = classify(type, payload)
            if got is not None:
                kind, severity = got
        elif severity is None:
            severity = DEFAULT_SEVERITY[EventKind(kind)]
        self.seq += 1
        ev = {"seq": self.seq, "type": type, "time": iso_time(time), "wall": _now(), "payload": jsonable(payload)}
        if kind is not None:
            ev["kind"], ev["severity"] = EventKind(kind).value, Severity.parse(severity).label
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
        atomic_write_json(self.run_dir / META_FILE, self.meta)

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
                atomic_write(self.run_dir / TRADES_PARQUET, trades.to_parquet)
        except Exception as e:  # noqa: BLE001 — the jsonl is the record; a failed conversion is noted
            extra["parquet_error"] = f"{type(e).__name__}: {e}"
        self.update_meta(status=status, ended_at=_now(), summary=dict(summary or {}), error=error, **extra)


def events_to_parquet(run_dir: str | os.PathLike[str]) -> Path:
    """Write ``events.parquet`` from ``events.jsonl`` (payload as a JSON string column); return its path."""
    run_dir = Path(run_dir)
    log = read_events(run_dir)
    df = _events_frame(log.events, payload_json=True)
    return atomic_write(run_dir / EVENTS_PARQUET, lambda tmp: df.to_parquet(tmp, index=False))

