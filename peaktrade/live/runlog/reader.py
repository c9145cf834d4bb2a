"""Readers of run logs: ``events.jsonl`` (tolerant of a torn last line), ``meta.json``, event frames.

See :mod:`peaktrade.live.runlog` for the layout of a run directory. Readers never modify a run's files.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from peaktrade.errors import PeakTradeError

META_FILE = "meta.json"
EVENTS_FILE = "events.jsonl"
EVENTS_PARQUET = "events.parquet"
TRADES_PARQUET = "trades.parquet"

#: Event types of ``events.jsonl``. ``heartbeat``: the run loop is alive (at least every ``heartbeat_seconds`` of
#: meta); ``monitor``: what the session observed about itself (kill switch, budget, stale data), with a ``kind``.
EVENT_TYPES = ("bar", "signal", "order", "fill", "denial", "equity", "position", "session", "heartbeat", "monitor")


class RunLogError(PeakTradeError):
    """A run log is missing, unreadable or corrupted (the message names the file and line)."""


class RunLogWarning(UserWarning):
    """Corrupted lines were skipped while reading a run log (``errors="skip"``)."""


# -- events --------------------------------------------------------------------------------------
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


