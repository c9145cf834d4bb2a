"""Run catalog: crash detection from the recorded process, listing with equity, finding runs by id."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from peaktrade._files import atomic_write_json
from peaktrade.live.runlog import (
    CRASHED,
    RUNNING,
    RunLog,
    RunLogError,
    effective_status,
    find_run,
    list_runs,
    read_meta,
)


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
    atomic_write_json(log.run_dir / "meta.json", {**meta, "pid": 2 ** 22 + 12345})  # no such pid
    (info,) = list_runs(log.run_dir.parent)
    assert info.status == CRASHED and info.n_events == 10 and info.final_equity == 1004.0


def test_find_run_matches_prefix_and_explains_when_missing_or_ambiguous(tmp_path):
    root = tmp_path / "runs"
    for rid in ("20240101-a", "20240101-b", "20240202-c"):
        RunLog.create(root, rid, {}).close("completed")
    assert find_run(root, "20240202").name == "20240202-c"
    assert find_run(root, str(root / "20240101-a")).name == "20240101-a"
    with pytest.raises(RunLogError, match="ambiguous"):
        find_run(root, "20240101")
    with pytest.raises(RunLogError, match="no run 'zzzzzz'"):
        find_run(root, "zzzzzz")  # a prefix of >= 6 characters (a shorter one is refused as too short)
