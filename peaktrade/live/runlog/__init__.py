"""Run logs of paper/shadow/testnet/live sessions: ``<runs dir>/<run_id>/``.

:mod:`~peaktrade.live.runlog.writer` writes a run, :mod:`~peaktrade.live.runlog.reader` reads its files and
:mod:`~peaktrade.live.runlog.catalog` lists runs and tells their status.

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

from peaktrade.live.runlog.catalog import (
    COMPLETED,
    CRASHED,
    DAMAGED,
    FINAL_STATUSES,
    RUNNING,
    STOPPED,
    RunInfo,
    effective_status,
    find_run,
    list_runs,
    new_run_id,
    pid_alive,
    run_info,
)
from peaktrade.live.runlog.reader import (
    EVENT_TYPES,
    EventLog,
    EventTail,
    RunLogError,
    RunLogWarning,
    count_events,
    last_event,
    read_events,
    read_meta,
)
from peaktrade.live.runlog.writer import RunLog, events_to_parquet

__all__ = [
    "COMPLETED", "CRASHED", "DAMAGED", "EVENT_TYPES", "FINAL_STATUSES", "RUNNING", "STOPPED",
    "EventLog", "EventTail", "RunInfo", "RunLog", "RunLogError", "RunLogWarning",
    "count_events", "effective_status", "events_to_parquet", "find_run", "last_event", "list_runs",
    "new_run_id", "pid_alive", "read_events", "read_meta", "run_info",
]
