"""Run log reader: events.jsonl read tolerantly (torn tail, damaged lines), never modified; tailing."""

from __future__ import annotations

import hashlib
import json

import pytest

from peaktrade.errors import PeakTradeError
from peaktrade.live.runlog import EventTail, RunLogError, RunLogWarning, read_events


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_events_returns_every_event_when_file_is_clean(log):
    ev = read_events(log.run_dir)
    assert [e["seq"] for e in ev] == list(range(1, 11))
    assert ev.truncated_tail is None and ev.skipped == []
    assert ev.events[0] == {**ev.events[0], "type": "bar", "time": "2024-01-01T00:00:00+00:00"}
    assert ev.events[1]["payload"] == {"equity": 1000.0, "nan": None}  # NaN is written as null (strict JSON)
    frame = ev.frame()
    assert list(frame.columns) == ["seq", "type", "time", "wall", "payload"] and str(frame["time"].dt.tz) == "UTC"


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
