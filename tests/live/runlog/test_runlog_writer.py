"""Run log writer: buffered events, atomic meta.json, Parquet files at close."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from peaktrade.live.runlog import RUNNING, RunLog, RunLogError, events_to_parquet, read_meta


def test_event_rejects_unknown_type_when_logged(log):
    with pytest.raises(RunLogError, match="event type 'trade' is invalid"):
        log.event("trade", None, {})


def test_update_meta_when_rewrite_fails_then_old_meta_kept_and_no_temp_file_left(log, monkeypatch):
    path = log.run_dir / "meta.json"
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        log.update_meta(status="completed")
    monkeypatch.undo()
    assert path.read_bytes() == before and read_meta(log.run_dir)["status"] == RUNNING
    assert sorted(p.name for p in log.run_dir.iterdir()) == ["events.jsonl", "meta.json"]  # no temp file left


def test_update_meta_when_values_are_timestamps_and_inf_then_iso_and_null_and_no_temp_file(log):
    log.update_meta(t=pd.Timestamp("2024-01-01", tz="UTC"), x=float("inf"))
    assert sorted(p.name for p in log.run_dir.iterdir()) == ["events.jsonl", "meta.json"]
    meta = json.loads((log.run_dir / "meta.json").read_text())
    assert meta["t"] == "2024-01-01T00:00:00+00:00" and meta["x"] is None


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


def test_close_when_trades_given_then_trades_parquet_written_atomically_with_no_temp_file(log):
    trades = pd.DataFrame({"pnl": [1.5, -0.5], "exit_reason": ["signal", "stop"]})
    log.close("completed", {"final_equity": 1004.0}, trades=trades)
    pd.testing.assert_frame_equal(pd.read_parquet(log.run_dir / "trades.parquet"), trades)
    assert sorted(p.name for p in log.run_dir.iterdir()) == [
        "events.jsonl", "events.parquet", "meta.json", "trades.parquet"]
    assert "parquet_error" not in read_meta(log.run_dir)
