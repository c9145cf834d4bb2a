"""Alerts end to end: a paper session's events reach a real JSON webhook and a real SMTP server on loopback,
a hanging destination does not delay the session, and `peaktrade alerts test` reports each destination."""

from __future__ import annotations

from datetime import datetime

import pytest
from receivers import SmtpReceiver, WebhookReceiver

from peaktrade.data import load_bars
from peaktrade.live.runlog import read_events
from peaktrade.live.session import run_session

TOKEN = "s3cr3t-webhook-token"


@pytest.fixture(scope="module")
def webhook():
    w = WebhookReceiver()
    yield w
    w.close()


@pytest.fixture(scope="module")
def smtp():
    s = SmtpReceiver()
    yield s
    s.close()


def _session(make_cfg, monkeypatch, urls, **alerts):
    monkeypatch.setenv("PEAKTRADE_ALERT_URLS", ",".join(urls))
    cfg = make_cfg(alerts={"min_severity": "info", "retries": 1, "timeout_seconds": 5.0, "exit_grace_seconds": 0.0,
                           "rate_limit_per_minute": 1000, **alerts})
    load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg)
    return cfg


def test_session_when_alert_urls_set_then_webhook_and_smtp_receive_real_messages_without_secrets(
        make_cfg, monkeypatch, webhook, smtp):
    n0, m0 = len(webhook.received), len(smtp.messages)
    cfg = _session(make_cfg, monkeypatch, [webhook.url(TOKEN), smtp.url()],
                   events=["session_started", "session_stopped"])
    res = run_session("ma_crossover", exchange="synthetic", replay="2020-01-05:2020-01-07", params={"fast": 3, "slow": 8},
                      config=cfg, checks=[], handle_signals=False)
    got = webhook.wait_for(n0 + 2)[n0:]
    mails = smtp.wait_for(m0 + 2)[m0:]
    titles = sorted(g["body"]["title"] for g in got)
    assert titles == sorted([f"[peaktrade] INFO session started: paper {res.run_id}",
                             f"[peaktrade] INFO session stopped: paper {res.run_id}"])
    stopped = next(g for g in got if "stopped" in g["body"]["title"])
    assert "ended completed" in stopped["body"]["message"] and f"run: {res.run_id}" in stopped["body"]["message"]
    assert all(g["path"] == f"/hook/{TOKEN}" for g in got)  # the secret is the address, never the content
    assert not any(TOKEN in g["raw"] for g in got) and not any(TOKEN in m["data"] for m in mails)
    assert any(f"session started: paper {res.run_id}" in m["data"] for m in mails)
    assert all(m["to"] == ["ops@example.com"] for m in mails)
    # latency from each event's wall time (run log) to its arrival at the webhook, for the note: the
    # first alert of a process includes apprise's plugin loading (cold), the next ones do not
    walls = {e["kind"]: datetime.fromisoformat(e["wall"]).timestamp() for e in read_events(res.run_dir) if "kind" in e}
    for kind, word in (("session_started", "started"), ("session_stopped", "stopped")):
        arrived = next(g for g in got if word in g["body"]["title"])["at"]
        print(f"\nalert latency {kind} -> webhook: {(arrived - walls[kind]) * 1000:.0f} ms")
        assert arrived >= walls[kind] - 0.01


def test_session_when_destination_hangs_then_session_finishes_before_the_receiver_answers(make_cfg, monkeypatch):
    slow = WebhookReceiver(delay=4.0)
    try:
        cfg = _session(make_cfg, monkeypatch, [slow.url(TOKEN)], events=["session_started", "order_placed"])
        res = run_session("ma_crossover", exchange="synthetic", replay="2020-01-05:2020-01-10",
                          params={"fast": 3, "slow": 8}, config=cfg, checks=[], handle_signals=False)
        answered_when_done = list(slow.answered)
        assert res.summary["n_orders"] > 0
        # every order was placed and the session ended while the destination still held its first alert
        assert answered_when_done == []
        first = slow.wait_for(1)[0]
        assert first["body"]["title"].startswith("[peaktrade] INFO session started")
    finally:
        slow.close()


def test_alerts_test_when_one_destination_is_dead_then_reports_each_redacted_and_exits_1(cli, monkeypatch, make_cfg,
                                                                                      webhook, smtp):
    monkeypatch.setenv("PEAKTRADE_ALERT_URLS", f"{webhook.url(TOKEN)},{smtp.url()},json://127.0.0.1:9/{TOKEN}x")
    make_cfg(alerts={"timeout_seconds": 2.0})
    n0 = len(webhook.received)
    r = cli("alerts", "test")
    lines = r.stdout.splitlines()
    assert r.exit_code == 1
    assert lines[0] == f"ok      json://127.0.0.1:{webhook.port}"
    assert lines[1] == f"ok      mailto://127.0.0.1:{smtp.port}"
    assert lines[2].startswith("FAILED  json://127.0.0.1:9: ")
    assert TOKEN not in r.stdout + r.stderr
    assert webhook.wait_for(n0 + 1)[n0]["body"]["title"] == "[peaktrade] test alert"


def test_alerts_test_when_no_destination_then_one_line_error(cli, make_cfg):
    make_cfg()
    r = cli("alerts", "test")
    assert r.exit_code != 0 and "PEAKTRADE_ALERT_URLS" in r.stderr and "Traceback" not in r.stderr
