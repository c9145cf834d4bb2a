"""Session events and alerts: the event taxonomy (:mod:`~peaktrade.alerts.events`) and delivery through
apprise off the order path (:mod:`~peaktrade.alerts.dispatch`). See docs/monitoring.md."""

from __future__ import annotations

from peaktrade.alerts.dispatch import (
    DEAD_LETTER_FILE,
    AlertDispatcher,
    AlertError,
    AlertRules,
    Destination,
    SendResult,
    destinations_from_config,
    parse_destinations,
    redact,
    send_test,
)
from peaktrade.alerts.events import DEFAULT_SEVERITY, Event, EventKind, Severity, classify

__all__ = [
    "DEAD_LETTER_FILE", "DEFAULT_SEVERITY", "AlertDispatcher", "AlertError", "AlertRules", "Destination", "Event",
    "EventKind", "SendResult", "Severity", "classify", "destinations_from_config", "parse_destinations", "redact",
    "send_test",
]
