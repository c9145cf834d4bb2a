"""The decision log: every safety decision (allow and deny), in memory and optionally as JSON lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from peaktrade.config import Config

Clock = Callable[[], pd.Timestamp]
#: The audit file in the state directory (one JSON line per decision).
AUDIT_FILE = "audit.jsonl"


def wall_clock() -> pd.Timestamp:
    """Return the current UTC time (used only to stamp records, never to decide on orders)."""
    return pd.Timestamp.now(tz="UTC")


def make_clock(now: pd.Timestamp | Clock | None) -> Clock:
    """Return a clock: ``None`` → the wall clock, a Timestamp → frozen at it, a callable → itself."""
    if now is None:
        return wall_clock
    if callable(now):
        return now
    frozen = pd.Timestamp(now)
    return lambda: frozen


def iso(t: Any) -> str | None:
    """Return ``t`` as an ISO-8601 string (None stays None)."""
    if t is None:
        return None
    try:
        return pd.Timestamp(t).isoformat()
    except (TypeError, ValueError):
        return str(t)


@dataclass(frozen=True)
class DecisionRecord:
    """One decision of the safety layer.

    ``component`` is who decided (``SafetyGuard``, ``RiskLimits``, ``live_gates``, ``kill_switch``),
    ``kind`` what about (``order``, ``endpoint``, ``live_gate``, ``state``), ``gate`` which rule,
    ``market_time`` the market time of the decision when there is one, ``recorded_at`` the wall clock.
    """

    component: str
    kind: str
    allowed: bool
    gate: str
    reason: str
    environment: str
    market_time: str | None
    recorded_at: str
    subject: dict[str, Any] = field(default_factory=dict)


class DecisionLog:
    """Records decisions in memory (``records``) and, with ``path``, appends each as a JSON line.

    A failed append is remembered in ``error`` and reported by :meth:`record` returning False; the
    SafetyGuard then denies the order it could not record (fail closed).
    """

    def __init__(self, path: Path | None = None, *, clock: Clock | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.clock = clock or wall_clock
        self.records: list[DecisionRecord] = []
        self.error: str | None = None

    @classmethod
    def from_config(cls, config: Config, *, clock: Clock | None = None) -> DecisionLog:
        """Return the decision log ``config`` asks for: ``<state_dir>/audit.jsonl`` when ``[safety] audit``,
        else in memory only."""
        return cls(config.state_dir / AUDIT_FILE if config.safety.audit else None, clock=clock)

    def record(self, *, component: str, kind: str, allowed: bool, gate: str, reason: str, environment: str,
               market_time: Any = None, subject: dict[str, Any] | None = None) -> bool:
        """Record one decision; return False when it could not be appended to the audit file."""
        rec = DecisionRecord(component, kind, bool(allowed), gate, reason, str(environment), iso(market_time),
                             iso(self.clock()) or "", dict(subject or {}))
        self.records.append(rec)
        if self.path is None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps(asdict(rec), sort_keys=True, default=str) + "\n"
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as e:
            self.error = f"cannot append to audit file {self.path}: {e.strerror or e}"
            return False
        return True

    def deny_last(self, reason: str) -> Any:
        """Turn the last record into an ``audit`` denial (its append failed); return the pipeline Decision."""
        from peaktrade.execution.pipeline import Decision

        self.records[-1] = replace(self.records[-1], allowed=False, gate="audit", reason=reason)
        return Decision(False, "audit", reason)

    def denials(self) -> list[DecisionRecord]:
        """Return the recorded denials."""
        return [r for r in self.records if not r.allowed]
