"""The event taxonomy of sessions: what a run log line *means*, with a severity.

A run log (:mod:`peaktrade.live.runlog`) stores raw events (``bar``, ``order``, ``denial``, ...). Each
line that means something to an operator also carries ``kind`` (an :class:`EventKind`) and ``severity``
(a :class:`Severity`), stamped by the writer with :func:`classify`. Monitors, the watchdog and alerts
read kinds, never raw payload shapes. :class:`Event` is the typed form of such a line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any


class Severity(IntEnum):
    """How urgent an event is; ordered, so ``severity >= Severity.WARNING`` works."""

    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40
    CRITICAL = 50

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | Severity) -> Severity:
        """Return the severity named ``value`` (``"warning"``), or raise ValueError naming the choices."""
        if isinstance(value, cls):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[str(value).upper()]
        except KeyError:
            raise ValueError(f"severity {value!r} is invalid: expected one of "
                             f"{', '.join(s.label for s in cls)}") from None


class EventKind(StrEnum):
    """What happened (the taxonomy of docs/monitoring.md)."""

    SESSION_STARTED = "session_started"
    SESSION_STOPPED = "session_stopped"
    SESSION_CRASHED = "session_crashed"
    ORDER_PLACED = "order_placed"
    ORDER_FILLED = "order_filled"
    ORDER_DENIED = "order_denied"
    ORDER_CANCELLED = "order_cancelled"
    KILL_SWITCH_ENGAGED = "kill_switch_engaged"
    KILL_SWITCH_RELEASED = "kill_switch_released"
    LIMIT_BREACHED = "limit_breached"
    BUDGET_NEAR = "budget_near"
    BUDGET_AT_LIMIT = "budget_at_limit"
    HEARTBEAT = "heartbeat"
    HEARTBEAT_MISSED = "heartbeat_missed"
    DATA_STALE = "data_stale"
    ERROR = "error"


#: The severity of each kind unless an event says otherwise.
DEFAULT_SEVERITY: dict[EventKind, Severity] = {
    EventKind.SESSION_STARTED: Severity.INFO,
    EventKind.SESSION_STOPPED: Severity.INFO,
    EventKind.SESSION_CRASHED: Severity.CRITICAL,
    EventKind.ORDER_PLACED: Severity.INFO,
    EventKind.ORDER_FILLED: Severity.INFO,
    EventKind.ORDER_DENIED: Severity.WARNING,
    EventKind.ORDER_CANCELLED: Severity.INFO,
    EventKind.KILL_SWITCH_ENGAGED: Severity.CRITICAL,
    EventKind.KILL_SWITCH_RELEASED: Severity.WARNING,
    EventKind.LIMIT_BREACHED: Severity.ERROR,
    EventKind.BUDGET_NEAR: Severity.WARNING,
    EventKind.BUDGET_AT_LIMIT: Severity.ERROR,
    EventKind.HEARTBEAT: Severity.DEBUG,
    EventKind.HEARTBEAT_MISSED: Severity.CRITICAL,
    EventKind.DATA_STALE: Severity.WARNING,
    EventKind.ERROR: Severity.ERROR,
}

#: Denial gates of the risk limits (peaktrade.safety) and of the testnet budget (peaktrade.live.budget).
LIMIT_GATES = frozenset({"max_daily_loss", "max_daily_loss_pct", "max_drawdown", "max_drawdown_pct",
                         "max_order_notional", "max_position_notional", "max_total_exposure",
                         "max_open_positions", "max_orders_per_minute"})
BUDGET_GATES = frozenset({"daily_notional", "daily_trades", "run_notional", "run_trades", "notional",
                          "max_run_seconds", "budget"})


#: Wire gates that deny because the kill switch stops trading (halted, or reducing and the order adds
#: exposure), or because the guard could not decide or the live authorization lapsed: errors, since the
#: session wanted to trade and an earlier check had let the order through.
HALT_GATES = frozenset({"halted", "kill_switch", "reducing", "wire", "live_authorization"})

#: The kind and severity of each ``session`` event (``payload["event"]``) emitted by peaktrade.live,
#: peaktrade.orders and peaktrade.safety; ``start``, ``end`` and ``wire_denied`` are decided by
#: :func:`classify` from the payload. tests/alerts/test_events.py fails when the code emits a session event
#: that is in neither this table nor :data:`IGNORED_SESSION_EVENTS`.
SESSION_EVENTS: dict[str, tuple[EventKind, Severity]] = {
    "data_error": (EventKind.ERROR, Severity.WARNING),  # a fetch failed; the poller retries
    "bad_candle": (EventKind.ERROR, Severity.WARNING),  # the poller skipped a malformed candle
    "cancelled": (EventKind.ORDER_CANCELLED, Severity.INFO),
    "order_cancelled": (EventKind.ORDER_CANCELLED, Severity.INFO),
    "unsettled_orders": (EventKind.ERROR, Severity.ERROR),  # orders left open at the venue at the end
    # the venue did not answer an order request: it may or may not be on the book until reconciled
    "outcome_unknown": (EventKind.ERROR, Severity.ERROR),
    # reconciliation found an order of unknown outcome absent at the venue: it never traded
    "reconciled_absent": (EventKind.ORDER_CANCELLED, Severity.WARNING),
    "orphan_order_cancelled": (EventKind.ORDER_CANCELLED, Severity.WARNING),  # a dead session's order, at start
    # the venue did not confirm a re-arm of the dead-man switch: it fires at its timeout
    "deadman_refresh_failed": (EventKind.ERROR, Severity.CRITICAL),
    # `peaktrade runs resume` continued a crashed or stopped session after booking what the venue did meanwhile
    "resumed": (EventKind.SESSION_STARTED, Severity.WARNING),
    # re-arming kept failing: the switch lapsed (resting orders cancelled) and entries stopped
    "deadman_lapsed": (EventKind.ERROR, Severity.CRITICAL),
    "kill_switch_unreadable": (EventKind.ERROR, Severity.ERROR),
}

#: Session events that are routine and never typed (so never alert), each with why.
IGNORED_SESSION_EVENTS: dict[str, str] = {
    "stop_requested": "a signal asked the loop to stop; the session's `end` event follows and is typed",
    "deadman_armed": "the dead-man switch was armed as it should be (recorded in meta.json)",
    "deadman_unavailable": "the venue has no dead-man switch (recorded in meta.json, not an event)",
}


def classify(type_: str, payload: Mapping[str, Any]) -> tuple[EventKind, Severity] | None:
    """Return the kind and severity of a raw run-log event, or None when it is routine data (bars, equity).

    A ``session`` event named in neither :data:`SESSION_EVENTS` nor :data:`IGNORED_SESSION_EVENTS` is typed
    an ``error`` warning: an event nobody classified yet still reaches the operator.
    """
    if type_ == "order":
        return EventKind.ORDER_PLACED, Severity.INFO
    if type_ == "fill":
        return EventKind.ORDER_FILLED, Severity.INFO
    if type_ == "denial":
        gate = str(payload.get("gate", ""))
        if gate in LIMIT_GATES:
            return EventKind.LIMIT_BREACHED, Severity.ERROR
        if gate in BUDGET_GATES or gate.startswith("budget"):
            return EventKind.BUDGET_AT_LIMIT, Severity.ERROR
        return _denied(gate)
    if type_ == "heartbeat":
        return EventKind.HEARTBEAT, Severity.DEBUG
    if type_ == "session":
        what = str(payload.get("event"))
        if what == "start":
            return EventKind.SESSION_STARTED, Severity.INFO
        if what == "end":
            if payload.get("status") == "crashed":
                return EventKind.SESSION_CRASHED, Severity.CRITICAL
            # stopped by a second signal mid-bar, or any end with an error, is worth a warning
            return EventKind.SESSION_STOPPED, Severity.WARNING if payload.get("error") else Severity.INFO
        if what == "wire_denied":  # the guard refused an order at the transport (kill switch, price collar)
            return _denied(str(payload.get("gate", "")))
        if what in IGNORED_SESSION_EVENTS:
            return None
        return SESSION_EVENTS.get(what, (EventKind.ERROR, Severity.WARNING))
    return None


def _denied(gate: str) -> tuple[EventKind, Severity]:
    # a denial because the kill switch stops trading is an error: the session wanted to trade
    return EventKind.ORDER_DENIED, Severity.ERROR if gate in HALT_GATES else Severity.WARNING


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Event:
    """One typed event: what happened (``kind``), how urgent (``severity``), to which run, and details.

    ``payload`` holds plain JSON data from the run log (never a secret: run logs hold sanitized data).
    """

    kind: EventKind
    severity: Severity
    run_id: str
    message: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)
    wall: str = field(default_factory=_now)
    time: str | None = None
    environment: str | None = None

    @classmethod
    def make(cls, kind: EventKind | str, run_id: str, message: str = "", *, severity: Severity | str | None = None,
             **kw: Any) -> Event:
        """Return an event of ``kind`` with its default severity unless ``severity`` is given."""
        kind = EventKind(kind)
        sev = DEFAULT_SEVERITY[kind] if severity is None else Severity.parse(severity)
        return cls(kind, sev, run_id, message, **kw)

    @classmethod
    def from_record(cls, ev: Mapping[str, Any], *, run_id: str, environment: str | None = None) -> Event | None:
        """Return the typed event of a run-log line (None when it has no kind: routine data)."""
        kind = ev.get("kind")
        if kind is None:
            got = classify(str(ev.get("type")), ev.get("payload") or {})
            if got is None:
                return None
            kind, sev = got
        else:
            sev = Severity.parse(ev.get("severity", DEFAULT_SEVERITY[EventKind(kind)]))
        payload = ev.get("payload") or {}
        return cls(EventKind(kind), sev, run_id, describe(EventKind(kind), payload), payload,
                   str(ev.get("wall") or _now()), ev.get("time"), environment)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "severity": self.severity.label, "run_id": self.run_id,
                "environment": self.environment, "message": self.message, "time": self.time, "wall": self.wall,
                "payload": dict(self.payload)}

    @property
    def title(self) -> str:
        """One line naming severity, kind and run (the subject of an alert)."""
        env = f"{self.environment} " if self.environment else ""
        return f"[peaktrade] {self.severity.label.upper()} {self.kind.value.replace('_', ' ')}: {env}{self.run_id}"


def describe(kind: EventKind, p: Mapping[str, Any]) -> str:
    """Return a one-line human description of an event from its payload."""
    if kind in (EventKind.ORDER_PLACED, EventKind.ORDER_FILLED):
        what = "filled" if kind is EventKind.ORDER_FILLED else "placed"
        return f"{p.get('side', '?')} {p.get('quantity', '?')} {p.get('symbol', '')} {what} at {p.get('price', '?')}"
    if p.get("event") == "wire_denied":
        return f"order {p.get('client_order_id') or '?'} denied at the wire by {p.get('gate', '?')}: {p.get('reason', '')}"
    if kind in (EventKind.ORDER_DENIED, EventKind.LIMIT_BREACHED, EventKind.BUDGET_AT_LIMIT):
        return f"{p.get('side', '?')} {p.get('quantity', '?')} denied by {p.get('gate', '?')}: {p.get('reason', '')}"
    if p.get("event") == "resumed":
        return f"run {p.get('run_id', '?')} resumed; {p.get('fills_booked', '?')} fill(s) booked from the venue"
    if kind is EventKind.SESSION_STARTED:
        return f"{p.get('strategy', '?')} on {p.get('symbol', '?')} {p.get('timeframe', '')} ({p.get('mode', '?')})"
    if kind in (EventKind.SESSION_STOPPED, EventKind.SESSION_CRASHED):
        err = f"; error: {p['error']}" if p.get("error") else ""
        return f"ended {p.get('status', '?')}, final equity {p.get('final_equity', '?')}{err}"
    if kind in (EventKind.ERROR, EventKind.ORDER_CANCELLED) and p.get("event"):
        what = str(p["event"]).replace("_", " ")
        detail = p.get("error") or p.get("reason") or p.get("client_order_id") or p.get("client_order_ids")
        return f"{what}: {detail}" if detail else what
    if kind is EventKind.ERROR:
        return str(p.get("error") or "error")
    return str(p.get("message") or p.get("reason") or "")
