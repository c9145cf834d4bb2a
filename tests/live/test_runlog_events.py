"""The typed event stream of run logs: kinds and severities on every meaningful line, heartbeats from the
run loop, and what a session observes about itself (kill switch) — issue 16 item 1."""

from __future__ import annotations

import pandas as pd
import pytest
from live_session_helpers import no_disk_sync  # noqa: F401 (fixture)

from peaktrade.alerts.events import Event, EventKind, Severity
from peaktrade.data import load_bars
from peaktrade.live.runlog import RunLog, read_events, read_meta
from peaktrade.live.session import run_session
from peaktrade.safety import KillSwitch


def test_write_event_when_raw_event_means_something_then_line_has_kind_and_severity(tmp_path):
    log = RunLog.create(tmp_path, "r1", {"environment": "paper"})
    t = pd.Timestamp("2024-01-01", tz="UTC")
    log.event("session", None, {"event": "start", "strategy": "s", "symbol": "BTC/USD", "mode": "replay"})
    log.event("bar", t, {"close": 1.0})
    log.event("order", t, {"side": "buy", "quantity": 1.0, "symbol": "BTC/USD", "price": 10.0})
    log.event("fill", t, {"side": "buy", "quantity": 1.0, "symbol": "BTC/USD", "price": 10.0})
    log.event("denial", t, {"side": "buy", "quantity": 1.0, "gate": "max_daily_loss", "reason": "loss 5 > 3"})
    log.event("denial", t, {"side": "buy", "quantity": 1.0, "gate": "daily_notional", "reason": "over"})
    log.event("denial", t, {"side": "buy", "quantity": 1.0, "gate": "halted", "reason": "kill switch"})
    log.event("denial", t, {"side": "buy", "quantity": 1.0, "gate": "NoEntries", "reason": "off"})
    log.event("monitor", None, {"reason": "ops"}, kind=EventKind.KILL_SWITCH_ENGAGED)
    log.event("session", None, {"event": "end", "status": "crashed", "error": "ValueError: x"})
    log.close("crashed")
    got = [(e["type"], e.get("kind"), e.get("severity")) for e in read_events(log.run_dir)]
    assert got == [
        ("session", "session_started", "info"), ("bar", None, None), ("order", "order_placed", "info"),
        ("fill", "order_filled", "info"), ("denial", "limit_breached", "error"),
        ("denial", "budget_at_limit", "error"), ("denial", "order_denied", "error"),
        ("denial", "order_denied", "warning"), ("monitor", "kill_switch_engaged", "critical"),
        ("session", "session_crashed", "critical"),
    ]
    typed = [Event.from_record(e, run_id="r1") for e in read_events(log.run_dir)]
    assert typed[1] is None and typed[4].kind is EventKind.LIMIT_BREACHED
    assert typed[4].severity >= Severity.ERROR and "max_daily_loss" in typed[4].message
    assert typed[-1].title.startswith("[peaktrade] CRITICAL session crashed") and "ValueError" in typed[-1].message


def test_run_session_when_kill_switch_engaged_mid_replay_then_log_has_heartbeats_and_engaged_event(make_cfg,
                                                                                                  no_disk_sync):
    cfg = make_cfg(monitor={"heartbeat_seconds": 0.001})
    load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg)
    switch = KillSwitch(cfg.state_dir, "paper")
    paused = []

    def sleep(seconds):  # the replay's pacing: engage the switch after 20 bars, as an operator would
        paused.append(seconds)
        if len(paused) == 20:
            switch.engage("operator test", scope="all")

    res = run_session("ma_crossover", exchange="synthetic", replay="2020-01-05:2020-01-08", speed=1000.0,
                      params={"fast": 3, "slow": 8}, config=cfg, sleep=sleep, handle_signals=False)
    evs = read_events(res.run_dir)
    kinds = [e.get("kind") for e in evs]
    assert read_meta(res.run_dir)["heartbeat_seconds"] == 0.001
    assert kinds[0] == "session_started" and kinds[-1] == "session_stopped"
    beats = evs.of_type("heartbeat")
    # heartbeats follow the wall clock (every 1 ms here), not the bars: how many fall in depends on the machine's
    # speed (19 of 20 bars' worth was seen under load), so the test asserts several, typed, and the last one's state
    assert len(beats) >= 5 and all(b["kind"] == "heartbeat" and b["severity"] == "debug" for b in beats)
    assert 20 <= beats[-1]["payload"]["bars"] <= res.summary["bars"] and beats[-1]["payload"]["kill_switch"] is True
    engaged = [e for e in evs if e.get("kind") == "kill_switch_engaged"]
    assert len(engaged) == 1 and engaged[0]["payload"]["reason"] == "operator test"
    assert engaged[0]["severity"] == "critical"
    # the switch was seen before the session ended: bars after it (none before) ran under it
    first_engaged = engaged[0]["seq"]
    assert any(e["type"] == "bar" and e["seq"] < first_engaged for e in evs)
    assert all(d["payload"]["gate"] == "halted" for d in evs.of_type("denial") if d["seq"] > first_engaged)


def test_run_session_when_fast_replay_then_heartbeats_only_as_often_as_the_interval(make_cfg, no_disk_sync):
    cfg = make_cfg(monitor={"heartbeat_seconds": 3600.0})
    load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg)
    res = run_session("ma_crossover", exchange="synthetic", replay="2020-01-05:2020-01-08",
                      params={"fast": 3, "slow": 8}, config=cfg, checks=[], handle_signals=False)
    beats = read_events(res.run_dir).of_type("heartbeat")
    assert len(beats) == 1 and beats[0]["payload"]["n"] == 1  # the one at start; none due afterwards
    assert res.summary["bars"] > 50


def test_config_when_heartbeat_not_positive_then_error_names_key(make_cfg):
    from peaktrade.errors import ConfigError

    with pytest.raises(ConfigError, match="heartbeat_seconds"):
        make_cfg(monitor={"heartbeat_seconds": 0})


def test_heartbeat_when_budget_crosses_near_fraction_then_budget_near_once_then_at_limit(tmp_path):
    from types import SimpleNamespace

    from peaktrade.live.watch import SessionWatch

    usage = {"run_notional": 50.0, "max_run_notional": 100.0, "run_trades": 1, "max_run_trades": 10}
    check = SimpleNamespace(run_id="r1", budget=SimpleNamespace(usage=lambda run_id: dict(usage)))
    log = RunLog.create(tmp_path, "r1", {"environment": "testnet"})
    rec = SimpleNamespace(log=log, values=[], n_bars=0, last_position=0.0, on_event=None, close_time=None)
    w = SessionWatch(run_id="r1", environment="testnet", interval=1.0, checks=[check], budget_near=0.8)
    w.start(rec)
    usage["run_notional"] = 85.0
    w.beat()
    w.beat()  # still near: raised once
    usage["run_notional"] = 100.0
    w.beat()  # already flagged for this cap: the denial itself says "at limit" (budget_at_limit)
    log.close("completed")
    evs = read_events(log.run_dir)
    assert [e["kind"] for e in evs if e["type"] == "monitor"] == ["budget_near"]
    beats = evs.of_type("heartbeat")
    assert [b["payload"]["budget_used"] for b in beats] == [0.5, 0.85, 0.85, 1.0]
