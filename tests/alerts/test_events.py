"""The session event taxonomy: every session event the code emits is typed or explicitly ignored."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import peaktrade
from peaktrade.alerts.events import (
    IGNORED_SESSION_EVENTS,
    SESSION_EVENTS,
    Event,
    EventKind,
    Severity,
    classify,
)

# session events classify() decides from the payload rather than from the table
_DECIDED_BY_PAYLOAD = {"start", "end", "wire_denied"}
_EMITTERS = ("live", "orders", "execution", "safety")
_EVENT_NAME = re.compile(r"""["']event["']\s*:\s*["']([A-Za-z_]+)["']|\bevent\s*=\s*["']([A-Za-z_]+)["']""")


def _emitted_session_events() -> set[str]:
    root = Path(peaktrade.__file__).parent
    names: set[str] = set()
    for pkg in _EMITTERS:
        for path in (root / pkg).rglob("*.py"):
            for m in _EVENT_NAME.finditer(path.read_text()):
                names.add(m.group(1) or m.group(2))
    return names


def test_classify_when_any_emitted_session_event_then_it_has_a_kind_or_is_on_the_ignore_list():
    emitted = _emitted_session_events()
    # the scan itself works: it finds emitters of each package family
    assert {"wire_denied", "outcome_unknown", "deadman_refresh_failed", "data_error", "end"} <= emitted
    unmapped = sorted(emitted - set(SESSION_EVENTS) - set(IGNORED_SESSION_EVENTS) - _DECIDED_BY_PAYLOAD)
    assert unmapped == [], (f"session events emitted but neither typed in SESSION_EVENTS nor listed in "
                            f"IGNORED_SESSION_EVENTS (peaktrade/alerts/events.py): {unmapped}")
    for name in emitted - set(IGNORED_SESSION_EVENTS):
        assert classify("session", {"event": name, "gate": "price_collar"}) is not None, name
    for name in IGNORED_SESSION_EVENTS:
        assert classify("session", {"event": name}) is None, name


@pytest.mark.parametrize(("payload", "kind", "severity"), [
    ({"event": "wire_denied", "gate": "halted"}, EventKind.ORDER_DENIED, Severity.ERROR),
    ({"event": "wire_denied", "gate": "reducing"}, EventKind.ORDER_DENIED, Severity.ERROR),
    ({"event": "wire_denied", "gate": "price_collar"}, EventKind.ORDER_DENIED, Severity.WARNING),
    ({"event": "deadman_refresh_failed", "error": "timeout"}, EventKind.ERROR, Severity.CRITICAL),
    ({"event": "deadman_lapsed"}, EventKind.ERROR, Severity.CRITICAL),
    ({"event": "outcome_unknown", "client_order_id": "c1"}, EventKind.ERROR, Severity.ERROR),
    ({"event": "reconciled_absent", "client_order_id": "c1"}, EventKind.ORDER_CANCELLED, Severity.WARNING),
    ({"event": "something_new"}, EventKind.ERROR, Severity.WARNING),
])
def test_classify_when_venue_session_event_then_typed_so_it_alerts(payload, kind, severity):
    assert classify("session", payload) == (kind, severity)


def test_event_from_record_when_wire_denied_then_message_names_order_gate_and_reason():
    ev = Event.from_record({"type": "session", "payload": {"event": "wire_denied", "gate": "halted",
                                                           "reason": "halted: kill switch engaged",
                                                           "client_order_id": "pt-7"}}, run_id="r1")
    assert ev is not None and ev.kind is EventKind.ORDER_DENIED and ev.severity is Severity.ERROR
    assert ev.message == "order pt-7 denied at the wire by halted: halted: kill switch engaged"


def test_event_from_record_when_session_resumed_then_a_started_warning_naming_run_and_fills_booked():
    ev = Event.from_record({"type": "session", "payload": {"event": "resumed", "run_id": "r1", "fills_booked": 2}},
                           run_id="r1")
    assert ev is not None and ev.kind is EventKind.SESSION_STARTED and ev.severity is Severity.WARNING
    assert ev.message == "run r1 resumed; 2 fill(s) booked from the venue"
