"""Run log files: append-only events.jsonl with a tolerant reader, atomic meta.json, crash detection."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from peaktrade.errors import PeakTradeError
from peaktrade.live.runlog import (
    CRASHED,
    RUNNING,
    EventTail,
    RunLog,
    RunLogError,
    RunLogWarning,
    effective_status,
    events_to_parquet,
    find_run,
    list_runs,
    read_events,
    read_meta,
    write_json_atomic,
)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def log(tmp_path):
    rl = RunLog.create(tmp_path / "runs", "r1", {"environment": "paper", "strategy": "s", "symbol": "BTC/USD"})
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    for i in range(5):
        rl.event("bar", t0 + pd.Timedelta(hours=i), {"close": 100.0 + i})
        rl.event("equity", t0 + pd.Timedelta(hours=i + 1), {"equity": 1000.0 + i, "nan": float("nan")})
        rl.flush()
    return rl


def test_read_events_returns_every_event_when_file_is_clean(log):
    ev = read_events(log.run_dir)
    assert [e["seq"] for e in ev] == list(range(1, 11))
    assert ev.truncated_tail is None and ev.skipped == []
    assert ev.events[0] == {**ev.events[0], "type": "bar", "time": "2024-01-01T00:00:00+00:00"}
    assert ev.events[1]["payload"] == {"equity": 1000.0, "nan": None}  # NaN is written as null (strict JSON)
    frame = ev.frame()
    assert list(frame.columns) == ["seq", "type", "time", "wall", "payload"] and str(frame["time"].dt.tz) == "UTC"


def test_event_rejects_unknown_type_when_logged(log):
    with pytest.raises(RunLogError, match="event type 'trade' is invalid"):
        log.event("trade", None, {})


def test_read_events_reports_truncated_tail_when_last_line_is_partial(log):
    path = log.run_dir / "events.jsonl"
    with open(path, "ab") as f:
        f.write(b'{"seq":11,"type":"bar","time":"2024-01-01T05:00:00+00:00","payl')
    before = _sha(path)
    ev = read_events(log.run_dir)
    assert len(ev) == 10 and ev.truncated_line == 11 and ev.truncated_tail.startswith('{"seq":11')
    assert _sha(path) == before  # readers never modify the log


def test_read_events_accepts_last_event_when_only_its_newline_is_missing(log):
    path = log.run_dir / "events.jsonl"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    ev = read_events(log.run_dir)
    assert len(ev) == 10 and ev.truncated_tail is None


def test_read_events_reports_tail_when_last_line_is_garbage(log):
    path = log.run_dir / "events.jsonl"
    with open(path, "ab") as f:
        f.write(b"\x00\x00\x00\n")  # what a power loss can leave behind
    ev = read_events(log.run_dir)
    assert len(ev) == 10 and ev.truncated_line == 11


def test_read_events_raises_naming_line_when_a_middle_line_is_corrupted(log):
    path = log.run_dir / "events.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3][:20]  # line 4 cut short
    path.write_bytes(b"\n".join(lines))
    before = _sha(path)
    with pytest.raises(RunLogError, match=r"events.jsonl line 4 is corrupted") as exc:
        read_events(log.run_dir)
    assert isinstance(exc.value, PeakTradeError)
    assert _sha(path) == before


def test_read_events_skips_with_warning_when_errors_is_skip(log):
    path = log.run_dir / "events.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[2] = b"not json"
    lines[6] = b'{"seq": 7, "type": "teleport", "payload": {}}'  # valid JSON, not an event
    path.write_bytes(b"\n".join(lines))
    with pytest.warns(RunLogWarning, match="skipped 2 corrupted line"):
        ev = read_events(log.run_dir, errors="skip")
    assert ev.skipped == [3, 7] and len(ev) == 8
    assert [e["seq"] for e in ev] == [1, 2, 4, 5, 6, 8, 9, 10]


def test_read_events_raises_when_log_missing(tmp_path):
    with pytest.raises(RunLogError, match="no event log"):
        read_events(tmp_path)


def test_meta_is_replaced_atomically_when_rewrite_fails(log, monkeypatch):
    path = log.run_dir / "meta.json"
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        log.update_meta(status="completed")
    monkeypatch.undo()
    assert path.read_bytes() == before and read_meta(log.run_dir)["status"] == RUNNING


def test_write_json_atomic_leaves_no_temp_file_when_done(tmp_path):
    write_json_atomic(tmp_path / "m.json", {"t": pd.Timestamp("2024-01-01", tz="UTC"), "x": float("inf")})
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
    assert json.loads((tmp_path / "m.json").read_text()) == {"t": "2024-01-01T00:00:00+00:00", "x": None}


def test_close_writes_parquet_and_final_meta_when_run_ends(log):
    log.close("completed", {"final_equity": 1004.0})
    meta = read_meta(log.run_dir)
    assert meta["status"] == "completed" and meta["summary"] == {"final_equity": 1004.0} and meta["ended_at"]
    pq = pd.read_parquet(log.run_dir / "events.parquet")
    assert len(pq) == 10 and json.loads(pq["payload"].iloc[0]) == {"close": 100.0}
    assert (log.run_dir / "events.jsonl").is_file()  # the jsonl is kept
    assert events_to_parquet(log.run_dir).name == "events.parquet"


def test_create_refuses_when_run_dir_exists(log):
    with pytest.raises(RunLogError, match="already exists"):
        RunLog.create(log.run_dir.parent, "r1", {})


def test_effective_status_is_crashed_when_process_is_gone(log):
    meta = read_meta(log.run_dir)
    assert meta["pid"] == os.getpid() and effective_status(meta) == RUNNING
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # reaped: the pid is gone
    assert effective_status({**meta, "pid": p.pid, "pid_start": None}) == CRASHED
    assert effective_status({**meta, "pid_start": (meta["pid_start"] or 0) + 1}) == CRASHED  # pid reused
    assert effective_status({**meta, "host": "elsewhere", "pid": p.pid}) == RUNNING  # cannot tell: unchanged
    assert effective_status({**meta, "status": "completed", "pid": p.pid}) == "completed"


def test_list_runs_shows_crashed_and_equity_when_run_died(log):
    log.flush()
    meta = read_meta(log.run_dir)
    write_json_atomic(log.run_dir / "meta.json", {**meta, "pid": 2 ** 22 + 12345})  # no such pid
    (info,) = list_runs(log.run_dir.parent)
    assert info.status == CRASHED and info.n_events == 10 and info.final_equity == 1004.0


def test_event_tail_returns_only_complete_lines_when_file_grows(log):
    tail = EventTail(log.run_dir)
    assert len(tail.poll()) == 10 and tail.poll() == []
    path = log.run_dir / "events.jsonl"
    line = json.dumps({"seq": 11, "type": "session", "time": None, "payload": {"event": "x"}}).encode()
    with open(path, "ab") as f:
        f.write(line[:15])
    assert tail.poll() == [] and tail.pending
    with open(path, "ab") as f:
        f.write(line[15:] + b"\n")
    assert [e["seq"] for e in tail.poll()] == [11]
    with open(path, "ab") as f:
        f.write(b"garbage\n")
    with pytest.raises(RunLogError, match="line 12 is corrupted"):
        tail.poll()


def test_find_run_matches_prefix_and_explains_when_missing_or_ambiguous(tmp_path):
    root = tmp_path / "runs"
    for rid in ("20240101-a", "20240101-b", "20240202-c"):
        RunLog.create(root, rid, {}).close("completed")
    assert find_run(root, "20240202").name == "20240202-c"
    assert find_run(root, str(root / "20240101-a")).name == "20240101-a"
    with pytest.raises(RunLogError, match="ambiguous"):
        find_run(root, "20240101")
    with pytest.raises(RunLogError, match="no run 'zzz'"):
        find_run(root, "zzz")
