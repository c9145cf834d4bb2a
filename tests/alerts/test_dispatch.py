"""Alert rules, de-duplication, rate limit, retries and the dead-letter file (unit tests: a fake sender)."""

from __future__ import annotations

import json
import threading

import pytest

from peaktrade.alerts import (
    AlertDispatcher,
    AlertError,
    AlertRules,
    Event,
    EventKind,
    Severity,
    destinations_from_config,
    parse_destinations,
    redact,
)
from peaktrade.config import AlertsConfig

SECRET = "xoxb-123-SECRET-token"


def _ev(kind=EventKind.ORDER_DENIED, msg="m", run="r1"):
    return Event.make(kind, run, msg, payload={"gate": "halted"})


class FakeSend:
    def __init__(self, fail_first: int = 0):
        self.calls: list[tuple[str, str, str]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self, dest, title, body, severity):
        with self.lock:
            self.calls.append((dest.label, title, body))
            if len(self.calls) <= self.fail_first:
                raise ConnectionError(f"refused by {dest.url}")  # an error quoting the URL must be scrubbed


def test_redact_when_url_holds_token_and_password_then_only_scheme_and_host_remain():
    assert redact(f"mailtos://user:{SECRET}@smtp.example.com:587?to=a@b") == "mailtos://smtp.example.com:587"
    assert redact(f"json://127.0.0.1:8080/hook/{SECRET}") == "json://127.0.0.1:8080"
    d = parse_destinations(f" json://127.0.0.1/{SECRET} ,, tgram://bot/chat ")
    assert [x.label for x in d] == ["json://127.0.0.1", "tgram#3"] and SECRET not in repr(d)


def test_parse_destinations_when_entry_has_no_scheme_then_error_names_entry_not_value():
    with pytest.raises(AlertError, match="entry 2 is not an apprise URL") as e:
        parse_destinations(f"json://h/x,{SECRET}")
    assert SECRET not in str(e.value)


def test_rules_when_config_names_unknown_kind_then_error_lists_kinds():
    with pytest.raises(AlertError, match="'order_exploded'.*heartbeat_missed"):
        AlertRules.from_config(AlertsConfig(events=["order_exploded"]))


def test_submit_when_below_min_severity_or_other_kind_then_not_queued():
    d = AlertDispatcher([], AlertRules(frozenset({EventKind.ORDER_DENIED}), Severity.WARNING), send=FakeSend())
    try:
        assert d.submit(_ev()) is True
        assert d.submit(_ev(EventKind.ORDER_FILLED)) is False  # info < warning
        assert d.submit(_ev(EventKind.HEARTBEAT_MISSED)) is False  # not in events
    finally:
        d.close()


def test_dispatch_when_duplicates_and_over_rate_then_deduped_and_rate_limited_to_dead_letter(tmp_path):
    send = FakeSend()
    dl = tmp_path / "dead.jsonl"
    d = AlertDispatcher(parse_destinations(f"json://127.0.0.1/{SECRET}"),
                        AlertRules(min_severity=Severity.INFO, rate_limit_per_minute=3, dedup_seconds=60),
                        dead_letter=dl, send=send)
    for _ in range(3):
        d.submit(_ev(msg="same"))  # one alert, twice de-duplicated
    for i in range(4):
        d.submit(_ev(msg=f"other {i}"))  # 2 more fit the rate limit, 2 are rate-limited
    assert d.join(10)
    d.close(wait=5)
    assert [c[2].splitlines()[0] for c in send.calls] == ["same", "other 0", "other 1"]
    dead = [json.loads(x) for x in dl.read_text().splitlines()]
    assert [(x["error"], x["event"]["message"]) for x in dead] == [("rate_limited", "other 2"), ("rate_limited", "other 3")]


def test_dispatch_when_destination_fails_then_retried_then_dead_lettered_without_url(tmp_path):
    send = FakeSend(fail_first=10)
    dl = tmp_path / "dead.jsonl"
    d = AlertDispatcher(parse_destinations(f"json://127.0.0.1:9/{SECRET}"), AlertRules(min_severity=Severity.INFO),
                        dead_letter=dl, send=send, retries=3, backoff=0.001)
    d.submit(_ev(msg="lost"))
    assert d.join(10)
    assert len(send.calls) == 3 and d.failed == 1 and d.delivered == 0
    text = dl.read_text()
    line = json.loads(text)
    assert line["attempts"] == 3 and line["destination"] == "json://127.0.0.1:9" and line["error"] == "ConnectionError"
    assert SECRET not in text and line["event"]["kind"] == "order_denied"
    d.close()


def test_dispatch_when_destination_recovers_then_delivered_on_a_retry(tmp_path):
    send = FakeSend(fail_first=1)
    d = AlertDispatcher(parse_destinations("json://127.0.0.1/x"), AlertRules(min_severity=Severity.INFO),
                        dead_letter=tmp_path / "dead.jsonl", send=send, retries=3, backoff=0.001)
    d.submit(_ev())
    assert d.join(10) and d.delivered == 1 and len(send.calls) == 2 and not (tmp_path / "dead.jsonl").exists()
    d.close()


def test_config_when_alert_urls_and_dashboard_token_in_dotenv_then_loaded_and_masked(tmp_path):
    from peaktrade.config import MASK, load_config

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text("")
    (tmp_path / ".env").write_text(f"PEAKTRADE_ALERT_URLS=json://127.0.0.1/{SECRET}\nPEAKTRADE_DASHBOARD_TOKEN=tok-{SECRET}\n")
    cfg = load_config(tmp_path / "config" / "config.toml", env={})
    from peaktrade.alerts import destinations_from_config

    assert [d.label for d in destinations_from_config(cfg)] == ["json://127.0.0.1"]
    assert cfg.secrets.dashboard_token.get_secret_value() == f"tok-{SECRET}"
    assert cfg.sanitized()["secrets"]["alert_urls"] == MASK and SECRET not in json.dumps(cfg.sanitized())


# apprise schemes whose host is (or holds) the token
HOST_TOKENS = {
    "pbul": ("o.PBTOKEN7f3a9c1d2e4b5a6f", "pbul://o.PBTOKEN7f3a9c1d2e4b5a6f"),
    "pover": ("POVERTOKEN4f2b9a8c7d6e5f1a", "pover://POVERUSER1a2b3c4d5e6f7a8b@POVERTOKEN4f2b9a8c7d6e5f1a"),
    "prowl": ("PROWLKEY0123456789abcdef0123456789abcdef", "prowl://PROWLKEY0123456789abcdef0123456789abcdef"),
    "join": ("JOINKEY0123456789abcdef01234567", "join://JOINKEY0123456789abcdef01234567/device1"),
    "tgram": ("987654321:BOTtokenABCdef123456", "tgram://987654321:BOTtokenABCdef123456/112233"),
    "slack": ("T1JJ3T3L2SLACKTOKEN", "slack://T1JJ3T3L2SLACKTOKEN/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#ops"),
}


def _host_token_urls() -> tuple[str, list[str]]:
    urls = [url for _, url in HOST_TOKENS.values()] + [f"json://127.0.0.1:9/hook/{SECRET}"]
    return ",".join(urls), [tok for tok, _ in HOST_TOKENS.values()] + [tok.split(":")[0] for tok, _ in
                                                                       HOST_TOKENS.values()] + [SECRET]


def test_labels_when_token_in_host_then_scheme_and_position_only():
    raw, _ = _host_token_urls()
    assert [d.label for d in parse_destinations(raw)] == [
        "pbul#1", "pover#2", "prowl#3", "join#4", "tgram#5", "slack#6", "json://127.0.0.1:9"]
    assert redact("https://hooks.slack.com/services/T1/B2/XYZ") == "https://hooks.slack.com"
    assert redact("mailtos://u:pw@smtp.example.com:587") == "mailtos://smtp.example.com:587"


def test_alert_outputs_when_tokens_in_host_then_no_token_in_cli_dead_letter_threads_or_logs(
        cli, make_cfg, monkeypatch, caplog):
    import logging

    from peaktrade.alerts import DEAD_LETTER_FILE

    caplog.set_level(logging.DEBUG)
    raw, secrets = _host_token_urls()
    monkeypatch.setenv("PEAKTRADE_ALERT_URLS", raw)
    cfg = make_cfg(alerts={"timeout_seconds": 1.0, "retries": 1})
    shown = []
    r = cli("alerts", "test")  # offline: every destination fails, each reported by its label
    assert r.exit_code == 1 and "FAILED  pbul#1" in r.stdout and "FAILED  tgram#5" in r.stdout
    shown += [r.stdout, r.stderr]
    r = cli("alerts", "test", "--json")
    assert r.exit_code == 1 and [x["destination"] for x in json.loads(r.stdout)][:2] == ["pbul#1", "pover#2"]
    shown += [r.stdout, r.stderr]

    class Leaky:  # a failing destination whose error quotes its URL
        def __call__(self, dest, title, body, severity):
            raise AlertError(f"refused by {dest.url}")

    dl = cfg.state_dir / DEAD_LETTER_FILE
    d = AlertDispatcher(destinations_from_config(cfg), AlertRules(min_severity=Severity.INFO), dead_letter=dl,
                        send=Leaky(), retries=1, backoff=0.001)
    shown += [t.name for t in threading.enumerate()]
    d.submit(_ev(msg="lost"))
    assert d.join(10)
    d.close(wait=5)
    dead = dl.read_text()
    assert len(dead.splitlines()) == 7
    # a dead-letter file written by an older version holds the host: `alerts dead-letter` redacts it again
    with dl.open("a") as f:
        f.write(json.dumps({"failed_at": "t", "destination": f"pbul://{HOST_TOKENS['pbul'][0]}", "error": "x",
                            "attempts": 1, "event": _ev().to_dict()}) + "\n")
    r = cli("alerts", "dead-letter")
    assert r.exit_code == 0 and "tgram#5" in r.stdout and "  pbul  " in r.stdout
    shown += [dead, r.stdout, r.stderr, caplog.text]
    for text in shown:
        for secret in secrets:  # hostnames are shown lower-cased: compare without case
            assert secret.lower() not in text.lower(), (secret, text)


_EXIT_SCRIPT = """
import socket, sys, threading
from pathlib import Path
from peaktrade.alerts import AlertDispatcher, AlertRules, Event, EventKind, Severity, parse_destinations

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
accepted, held = threading.Event(), []

def hang():  # accepts the connection, never answers (a destination hanging for 30 s and more)
    while True:
        conn, _ = srv.accept()
        held.append(conn)
        accepted.set()

threading.Thread(target=hang, daemon=True).start()
port = srv.getsockname()[1]
dead = Path(sys.argv[1])
hanging = AlertDispatcher(parse_destinations(f"json://127.0.0.1:{port}/hook"), AlertRules(min_severity=Severity.INFO),
                          dead_letter=dead, timeout=30.0, retries=1, exit_grace=1.0)
# a second dispatcher with nothing to send: its grace runs from the same start, it adds no wait
idle = AlertDispatcher([], AlertRules(), dead_letter=dead, exit_grace=1.0)
hanging.submit(Event.make(EventKind.SESSION_CRASHED, "r1", "in flight"))
assert accepted.wait(60), "the destination was never contacted"
hanging.submit(Event.make(EventKind.SESSION_CRASHED, "r1", "queued behind"))
hanging.close(wait=0)  # what a session does at its end; the process then exits
print("exiting", flush=True)
"""


def test_process_exit_when_destination_hangs_then_in_flight_and_queued_alerts_dead_lettered(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    dead = tmp_path / "dead.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    r = subprocess.run([sys.executable, "-c", _EXIT_SCRIPT, str(dead)], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "exiting" in r.stdout
    lines = [json.loads(x) for x in dead.read_text().splitlines()]
    assert [(x["event"]["message"], x["error"]) for x in lines] == [("in flight", "undelivered at exit"),
                                                                     ("queued behind", "undelivered at exit")]
    assert all(x["destination"].startswith("json://127.0.0.1:") for x in lines)
