"""The watchdog: a session that stops writing is reported "heartbeat missed" within two heartbeat intervals (at 1.5) —
with a fake clock (the rule), and with a real `peaktrade paper run` process hung (SIGSTOP) then killed (SIGKILL)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest
from alerts.receivers import WebhookReceiver

from peaktrade.alerts import AlertDispatcher, AlertRules, parse_destinations
from peaktrade.data import load_bars
from peaktrade.live.runlog import RunLog, last_event, read_meta
from peaktrade.monitor import MISSED_AFTER, WATCHDOG_FILE, Watchdog, running_sessions, watchdog_events
from peaktrade.monitor.watchdog import check_every


def test_check_when_silent_for_one_and_a_half_intervals_then_missed_raised_once_and_not_before(tmp_path):
    runs = tmp_path / "runs"
    log = RunLog.create(runs, "20240101-000000-paper-s-aaaaaa", {"environment": "paper", "heartbeat_seconds": 10.0})
    log.event("heartbeat", None, {"n": 1})
    log.flush()
    t_last = datetime.fromisoformat(last_event(log.run_dir)["wall"]).timestamp()
    now = [t_last + 14.0]
    dog = Watchdog(runs, clock=lambda: now[0])
    assert dog.check() == []  # 1.4 intervals: still on time (a heartbeat late by a slow bar)
    now[0] = t_last + 15.5
    (ev,) = dog.check()
    assert ev.kind.value == "heartbeat_missed" and ev.severity.label == "critical"
    assert ev.payload["process_alive"] is True and "hung" in ev.message and ev.payload["heartbeat_age"] == pytest.approx(15.5, abs=0.01)
    assert dog.check() == [] and Watchdog(runs, clock=lambda: now[0]).check() == []  # once, across watchdogs
    log.event("heartbeat", None, {"n": 2})  # the session resumes, then stalls again: a new stall
    log.flush()
    now[0] = datetime.fromisoformat(last_event(log.run_dir)["wall"]).timestamp() + 25
    assert len(dog.check()) == 1 and len(watchdog_events(runs)) == 2
    log.close("completed")
    now[0] += 1000
    assert dog.check() == [] and list(running_sessions(runs)) == []  # a finished run is never late


def _stalled_run(runs, interval=10.0):
    log = RunLog.create(runs, "20240101-000000-paper-s-bbbbbb", {"environment": "paper", "heartbeat_seconds": interval})
    log.event("heartbeat", None, {"n": 1})
    log.flush()
    return datetime.fromisoformat(last_event(log.run_dir)["wall"]).timestamp()


def test_check_when_watchdog_file_cannot_be_written_then_missed_raised_once_not_every_check(tmp_path):
    runs = tmp_path / "runs"
    t_last = _stalled_run(runs)
    (runs / WATCHDOG_FILE).mkdir()  # unwritable (and unreadable) as a file
    now = [t_last + 16.0]
    got = []
    dog = Watchdog(runs, clock=lambda: now[0], on_event=got.append)
    for _ in range(6):  # the age grows on every check: it is not part of what identifies a stall
        dog.check()
        now[0] += 2.5
    assert len(got) == 1 and got[0].kind.value == "heartbeat_missed"


def test_run_when_session_killed_right_after_heartbeat_then_flagged_before_two_intervals_in_every_phase(tmp_path):
    interval = 10.0
    runs = tmp_path / "runs"
    t_last = _stalled_run(runs, interval)
    step = check_every(interval)  # the default cadence of `peaktrade monitor` and the dashboard
    # a heartbeat late by a slow bar (up to half an interval) is not a stall
    assert Watchdog(runs, clock=lambda: t_last + 1.25 * interval).check() == []
    assert Watchdog(runs, clock=lambda: t_last + 1.45 * interval).check() == []
    worst = 0.0
    for i in range(41):  # the watchdog's checks fall anywhere relative to the session's last event
        (runs / WATCHDOG_FILE).unlink(missing_ok=True)
        now = [t_last + step * i / 40]
        raised: list[float] = []
        dog = Watchdog(runs, clock=lambda now=now: now[0], on_event=lambda ev, now=now, r=raised: r.append(now[0]))
        dog.run(every=step, stop=lambda r=raised, now=now: bool(r) or now[0] > t_last + 5 * interval,
                sleep=lambda s, now=now: now.__setitem__(0, now[0] + s))
        assert raised, "never raised"
        worst = max(worst, raised[0] - t_last)
    assert 1.5 * interval < worst < 2 * interval


@pytest.fixture(scope="module")
def webhook():
    w = WebhookReceiver()
    yield w
    w.close()


def test_watchdog_when_real_session_hangs_then_is_killed_then_missed_alert_reaches_webhook(make_cfg, webhook):
    cfg = make_cfg(monitor={"heartbeat_seconds": 0.5})
    load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg)
    proc = subprocess.Popen(
        [sys.executable, "-m", "peaktrade.cli.main", "paper", "run", "--strategy", "ma_crossover", "--exchange",
         "synthetic", "--param", "fast=3", "--param", "slow=8", "--replay", ":", "--speed", "20", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    alerts = AlertDispatcher(parse_destinations(webhook.url("wd-token")), AlertRules(), retries=1)
    try:
        run_dir = _wait_for_heartbeats(cfg.runs_dir, proc, n=2)
        dog = Watchdog(cfg.runs_dir, alerts=alerts)
        assert dog.check() == []  # heartbeating
        proc.send_signal(signal.SIGSTOP)  # hung: alive, but its loop does not run
        ev = _poll(dog)
        assert ev.run_id == run_dir.name and ev.payload["process_alive"] is True and ev.payload["pid"] == proc.pid
        assert ev.payload["heartbeat_age"] > MISSED_AFTER * 0.5
        proc.kill()  # kill -9: no summary, meta still says running
        proc.wait(timeout=30)
        assert read_meta(run_dir)["status"] == "running"
        (h,) = running_sessions(cfg.runs_dir)
        assert h.status == "crashed" and h.missed
        got = webhook.wait_for(1)
        assert got[-1]["body"]["title"] == f"[peaktrade] CRITICAL heartbeat missed: paper {run_dir.name}"
        assert "wd-token" not in got[-1]["raw"]
        lines = [json.loads(x) for x in (cfg.runs_dir / WATCHDOG_FILE).read_text().splitlines()]
        assert [x["kind"] for x in lines] == ["heartbeat_missed"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        alerts.close()


def _wait_for_heartbeats(runs_dir, proc, *, n, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        for d in (runs_dir.iterdir() if runs_dir.exists() else []):
            f = d / "events.jsonl"
            if f.exists() and f.read_bytes().count(b'"type":"heartbeat"') >= n:
                return d
        time.sleep(0.05)
    raise AssertionError("the session wrote no heartbeats in time")


def _poll(dog, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = dog.check()
        if got:
            assert len(got) == 1
            return got[0]
        time.sleep(0.1)
    raise AssertionError("the watchdog raised nothing in time")


def test_monitor_watch_when_session_is_late_then_prints_missed_line(cli, make_cfg):
    cfg = make_cfg(monitor={"heartbeat_seconds": 0.05})
    log = RunLog.create(cfg.runs_dir, "20240101-000000-paper-s-bbbbbb",
                        {"environment": "paper", "heartbeat_seconds": 0.05})
    log.flush()
    time.sleep(0.2)
    r = cli("monitor", "--watch", "--every", "0.05", "--duration", "0.3")
    assert r.exit_code == 0, r.stderr
    assert "CRITICAL heartbeat_missed  20240101-000000-paper-s-bbbbbb" in r.stdout
