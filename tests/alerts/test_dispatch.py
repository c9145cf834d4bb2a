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
    assert [x.label for x in d] == ["json://127.0.0.1", "tgram://bot"] and SECRET not in repr(d)


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
