"""What a session tells the monitors about itself: heartbeats, observed events, alerts.

:class:`SessionWatch` is called from the session's *run loop* (after each bar and while the loop waits),
never from a thread of its own: a loop that hangs stops heartbeating, which is what the watchdog
(:mod:`peaktrade.monitor.watchdog`) detects. On each heartbeat it also reads the kill switch, the age of
the newest bar (polled sessions) and the testnet budget, and writes an event when one of them changes
(``monitor`` events with a kind: kill switch engaged/released, data stale, budget near its limit).
Every typed event is handed to the alert dispatcher, whose ``submit`` never blocks (DESIGN.md 3.13).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade.alerts.events import Event, EventKind

if TYPE_CHECKING:
    from peaktrade.alerts.dispatch import AlertDispatcher
    from peaktrade.config import Config
    from peaktrade.live.recorder import Recorder


class SessionWatch:
    """Heartbeats, self-observed events and alert hand-off of one session (see the module doc)."""

    def __init__(self, *, run_id: str, environment: str, interval: float, state_dir: Any = None,
                 alerts: AlertDispatcher | None = None, stale_bars: float | None = None,
                 budget_near: float = 0.8, checks: Sequence[Any] = (),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.run_id, self.environment, self.interval = run_id, environment, float(interval)
        self.alerts = alerts
        self.stale_bars = stale_bars
        self.budget_near = budget_near
        self.monotonic = monotonic
        self.rec: Recorder | None = None
        self._last = monotonic()
        self._switch = None
        if state_dir is not None:
            try:
                from peaktrade.safety import KillSwitch
            except ImportError:  # observation only: the session's own checks refuse to start without safety
                KillSwitch = None  # noqa: N806
            if KillSwitch is not None:
                self._switch = KillSwitch(state_dir, environment)
        self._engaged: bool = False
        self._stale = False
        self._budget_flags: set[str] = set()
        self._budgets = [c for c in checks if hasattr(c, "budget") and hasattr(c.budget, "usage")]
        self.beats = 0

    @classmethod
    def from_config(cls, cfg: Config | None, *, run_id: str, environment: str, checks: Sequence[Any] = (),
                    poll: bool = False) -> SessionWatch:
        """Return the watch of a session under ``cfg`` (defaults and no alerts without a config)."""
        if cfg is None:
            from peaktrade.config import MonitorConfig

            return cls(run_id=run_id, environment=environment, interval=MonitorConfig().heartbeat_seconds)
        from peaktrade.alerts.dispatch import AlertDispatcher

        return cls(run_id=run_id, environment=environment, interval=cfg.monitor.heartbeat_seconds,
                   state_dir=cfg.state_dir, alerts=AlertDispatcher.from_config(cfg),
                   stale_bars=cfg.alerts.stale_bars if poll else None, budget_near=cfg.alerts.budget_near_fraction,
                   checks=checks)

    # -- events ---------------------------------------------------------------------------------
    def on_event(self, ev: Mapping[str, Any]) -> None:
        """Hand a logged event with a kind to the alert dispatcher (never blocks)."""
        if self.alerts is None or "kind" not in ev:
            return
        typed = Event.from_record(ev, run_id=self.run_id, environment=self.environment)
        if typed is not None:
            self.alerts.submit(typed)

    def _emit(self, kind: EventKind, payload: dict[str, Any]) -> None:
        assert self.rec is not None
        ev = self.rec.log.event("monitor", None, payload, kind=kind)
        if self.rec.on_event is not None:
            self.rec.on_event(ev)

    # -- heartbeats -----------------------------------------------------------------------------
    def start(self, rec: Recorder) -> None:
        """Attach the recorder and write the first heartbeat (with the observations)."""
        self.rec = rec
        self.beat()

    def tick(self) -> None:
        """Write a heartbeat when one is due (called from the run loop: after bars and while waiting)."""
        if self.rec is not None and self.monotonic() - self._last >= self.interval:
            self.beat()

    def beat(self) -> None:
        """Observe (kill switch, data age, budget), write a heartbeat and flush."""
        rec = self.rec
        assert rec is not None
        self._last = self.monotonic()
        self._observe_switch()
        age = self._observe_data()
        budget = self._observe_budget()
        self.beats += 1
        eq = rec.values[-1] if rec.values else None
        ev = rec.log.event("heartbeat", None, {"interval": self.interval, "n": self.beats, "bars": rec.n_bars,
                                               "equity": eq, "position": rec.last_position,
                                               "last_bar_age": age, "kill_switch": self._engaged,
                                               "budget_used": budget})
        if rec.on_event is not None:
            rec.on_event(ev)
        rec.log.flush()

    def _observe_switch(self) -> None:
        if self._switch is None:
            return
        try:
            st = self._switch.status()
        except Exception as e:  # noqa: BLE001 — cannot read: report it, trading is gated by the guard anyway
            self._emit(EventKind.ERROR, {"event": "kill_switch_unreadable", "error": f"{type(e).__name__}: {e}"})
            return
        if st.engaged != self._engaged:
            self._engaged = st.engaged
            kind = EventKind.KILL_SWITCH_ENGAGED if st.engaged else EventKind.KILL_SWITCH_RELEASED
            self._emit(kind, {"scope": st.scope, "state": str(st.state), "reason": st.reason, "since": st.since,
                              "message": st.describe()})

    def _observe_data(self) -> float | None:
        rec = self.rec
        if rec is None or rec.close_time is None:
            return None
        age = (pd.Timestamp.now(tz="UTC") - rec.close_time).total_seconds()
        if self.stale_bars is None:
            return age
        limit = self.stale_bars * rec.plan.step.total_seconds()
        stale = age > limit
        if stale and not self._stale:
            self._emit(EventKind.DATA_STALE, {"last_bar_age": age, "limit_seconds": limit,
                                              "message": f"newest bar closed {age:,.0f} s ago (limit {limit:,.0f} s)"})
        self._stale = stale
        return age

    def _observe_budget(self) -> float | None:
        """Raise budget near / at its limit once per cap; return the largest fraction used (None: no budget)."""
        worst = None
        for check in self._budgets:
            try:
                u = check.budget.usage(run_id=check.run_id)
            except Exception:  # noqa: BLE001 — the budget check itself fails closed on the order path
                continue
            for used, cap in (("run_notional", "max_run_notional"), ("run_trades", "max_run_trades"),
                              ("daily_notional", "max_daily_notional"), ("daily_trades", "max_daily_trades")):
                u_, c_ = u.get(used), u.get(cap)
                if not isinstance(u_, (int, float)) or not isinstance(c_, (int, float)) or c_ <= 0:
                    continue
                frac = u_ / c_
                worst = frac if worst is None else max(worst, frac)
                if frac >= self.budget_near and used not in self._budget_flags:
                    self._budget_flags.add(used)
                    kind = EventKind.BUDGET_AT_LIMIT if frac >= 1 else EventKind.BUDGET_NEAR
                    self._emit(kind, {"limit": used, "used": u_, "cap": c_, "fraction": frac,
                                      "message": f"{used} {u_:,.2f} of {c_:,.2f} ({frac:.0%})"})
        return worst

    def chain(self, on_event: Callable[[dict[str, Any]], None] | None) -> Callable[[dict[str, Any]], None]:
        """Return an ``on_event`` that hands events to the alerts first, then to ``on_event``."""
        def both(ev: dict[str, Any]) -> None:
            self.on_event(ev)
            if on_event is not None:
                on_event(ev)

        return both

    def close(self) -> None:
        """Stop handing events over; queued alerts are still delivered by the dispatcher's thread."""
        if self.alerts is not None:
            self.alerts.close(wait=0)


def watch_session(config: Config | None, *, run_id: str, environment: str, pipe: Any, plan: Any) -> SessionWatch:
    """Return the :class:`SessionWatch` of a session about to start (``config`` None: the loaded config)."""
    if config is None:
        from peaktrade.config import load_config

        try:
            config = load_config()
        except Exception:  # noqa: BLE001 — the session validated its own config; monitoring falls back to defaults
            config = None
    return SessionWatch.from_config(config, run_id=run_id, environment=environment,
                                    checks=getattr(pipe, "checks", ()), poll=getattr(plan, "poller", None) is not None)
