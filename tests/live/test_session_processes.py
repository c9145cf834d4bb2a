"""Real processes: SIGTERM stops a paced replay gracefully; SIGKILL leaves a readable log that
`runs list` shows as crashed. The CLI runs in a subprocess (stub safety layer: no checks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from peaktrade.data import load_bars
from peaktrade.live.runlog import CRASHED, list_runs, read_events, read_meta


@pytest.fixture
def slow_run(cfg, tmp_path):
    """Start ``peaktrade paper run --replay : --speed 40`` in a subprocess; yield (process, run dir)."""
    load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg)  # generate the demo store once, here
    proc = subprocess.Popen(
        [sys.executable, "-m", "peaktrade.cli.main", "paper", "run", "--strategy", "ma_crossover", "--exchange", "synthetic",
         "--param", "fast=3", "--param", "slow=8", "--replay", ":", "--speed", "40"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"},
    )
    try:
        run_dir = _wait_for_events(cfg.runs_dir, proc, min_bars=20)
        yield proc, run_dir
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _wait_for_events(runs_dir, proc, *, min_bars: int, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        dirs = list(runs_dir.iterdir()) if runs_dir.exists() else []
        if dirs and (dirs[0] / "events.jsonl").exists():
            if (dirs[0] / "events.jsonl").read_bytes().count(b'"type":"bar"') >= min_bars:
                return dirs[0]
        time.sleep(0.05)
    raise AssertionError("the session wrote no events in time")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_after_current_bar_and_writes_summary_when_replay_is_slow(cfg, slow_run, cli,
                                                                               signum):
    proc, run_dir = slow_run
    assert read_meta(run_dir)["status"] == "running" and read_meta(run_dir)["pid"] == proc.pid
    r = cli("runs", "tail", run_dir.name, "--follow", "--timeout", "0.5", "--interval", "0.1")
    assert r.exit_code == 0 and "still running" in r.stderr and " bar " in r.stdout
    proc.send_signal(signum)  # SIGTERM from a supervisor, SIGINT from Ctrl-C
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"paper run {run_dir.name}: stopped" in out
    meta = read_meta(run_dir)
    assert meta["status"] == "stopped" and meta["ended_at"] and meta["error"] is None
    s = meta["summary"]
    assert 20 <= s["bars"] < 2000 and s["final_equity"] > 0 and s["n_trades"] == len(s["trades"])
    ev = read_events(run_dir)
    assert ev.truncated_tail is None
    assert len(ev.of_type("bar")) == len(ev.of_type("equity")) == s["bars"]  # the last bar was finished
    assert [e["payload"]["event"] for e in ev.of_type("session")][-2:] == ["stop_requested", "end"]
    assert ev.of_type("session")[-2]["payload"]["signal"] == signal.Signals(signum).name
    assert (run_dir / "events.parquet").is_file() and (run_dir / "trades.parquet").is_file()
    r = cli("runs", "tail", run_dir.name, "--follow", "--timeout", "5", "-n", "1")
    assert r.exit_code == 0 and f"run {run_dir.name} is stopped" in r.stdout


def test_sigkill_leaves_readable_log_and_runs_list_shows_crashed_when_process_dies(cfg, slow_run, cli):
    proc, run_dir = slow_run
    proc.kill()  # SIGKILL: no handler, no flush, no summary
    proc.wait(timeout=30)  # reaped, so the pid is gone (not a zombie)
    meta = read_meta(run_dir)
    assert meta["status"] == "running" and meta["summary"] is None  # meta.json is whole, just never finalized
    ev = read_events(run_dir)
    assert len(ev) > 40
    if ev.truncated_tail is None:  # the last event is complete…
        assert ev.events[-1]["type"] in ("equity", "position", "fill", "session", "bar", "signal", "order")
    else:  # …or the partial tail is reported, never raised
        assert ev.truncated_line == len(ev) + 1
    (info,) = list_runs(cfg.runs_dir)
    assert info.status == CRASHED and info.final_equity is not None and info.n_events >= len(ev)
    r = cli("runs", "list")
    assert r.exit_code == 0 and run_dir.name in r.stdout and "crashed" in r.stdout
    r = cli("runs", "show", run_dir.name)
    assert r.exit_code == 0 and "crashed (meta says running" in r.stdout
    r = cli("runs", "tail", run_dir.name, "--follow", "--timeout", "5", "-n", "1")
    assert r.exit_code == 0 and f"run {run_dir.name} is crashed" in r.stdout
    assert not (run_dir / "events.parquet").exists()  # readers never write
