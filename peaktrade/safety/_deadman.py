"""The dead-man switch of a session that places orders (Kraken ``CancelAllOrdersAfter``).

Armed before the session's first order and re-armed every ``refresh`` seconds from the session's own
thread (its waits between polls are cut into pieces no longer than ``refresh``; no second thread shares
the client, whose requests carry strictly increasing nonces). If the session dies — kill -9, a crash, a
hung process, a lost network — nobody re-arms it and the venue cancels every open order of the account at
the timeout. The switch is account-wide: a session never disarms it on exit (another session of the
account may rely on it); the resting orders of a finished session are cancelled at the timeout unless
another session keeps the switch armed.

Fail closed while running too: the switch knows until when it is confirmed armed (``armed_until``: the
last confirmed arm + timeout - margin). A :class:`~peaktrade.safety.SafetyGuard` that relies on it
(``guard.require_deadman(switch)``) denies every order-placing request at the wire once that deadline has
passed (cancels still pass). After ``max_failures`` consecutive failed re-arms the switch is ``lapsed``
(latched) and records a ``deadman_lapsed`` event; the session then stops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from peaktrade.safety._errors import SafetyError


class DeadManSwitch:
    """Keep ``client``'s dead-man switch armed (``client.cancel_all_orders_after(timeout)``).

    Parameters
    ----------
    client
        An adapter whose ``capabilities.dead_man_switch`` is True.
    timeout, refresh
        Seconds until the venue cancels, and between re-arms (``refresh <= timeout / 3``).
    clock
        Monotonic seconds (tests).
    margin
        Seconds before the venue's deadline at which the switch no longer counts as armed (default
        ``refresh``: the time one more re-arm needs, so an order is never sent into the last moments).
    max_failures
        Consecutive failed re-arms after which the switch is lapsed for good (``deadman_lapsed``).
    """

    def __init__(self, client: Any, *, timeout: float, refresh: float,
                 clock: Callable[[], float] = time.monotonic, margin: float | None = None,
                 max_failures: int = 3) -> None:
        if not 0 < refresh <= timeout / 3:
            raise SafetyError(f"dead-man switch: refresh={refresh} is invalid: expected 0 < refresh <= timeout/3 = "
                              f"{timeout / 3:g} s (two re-arms may fail before the switch fires)")
        self.client = client
        self.timeout = float(timeout)
        self.refresh = float(refresh)
        self.margin = self.refresh if margin is None else float(margin)
        if not 0 <= self.margin < self.timeout:
            raise SafetyError(f"dead-man switch: margin={margin} must be >= 0 and shorter than timeout={timeout}")
        if max_failures < 1:
            raise SafetyError(f"dead-man switch: max_failures={max_failures} must be >= 1")
        self.max_failures = int(max_failures)
        self._clock = clock
        self._last: float | None = None
        self.armed_until: float | None = None  # monotonic deadline of the last confirmed arm (minus margin)
        self.failures = 0  # consecutive failed re-arms
        self.lapsed = False
        self.arms = 0
        self.trigger_time: str | None = None
        self.events: list[dict[str, Any]] = []  # for the run log: failed refreshes

    @staticmethod
    def supported(client: Any) -> bool:
        """Whether ``client``'s venue has a dead-man switch (capabilities as data)."""
        return bool(getattr(getattr(client, "capabilities", None), "dead_man_switch", False))

    def arm(self) -> dict[str, Any]:
        """Arm the switch now; raise :class:`SafetyError` when the venue does not confirm (fail closed)."""
        try:
            res = self.client.cancel_all_orders_after(self.timeout)
        except Exception as e:  # noqa: BLE001 — a session without its dead-man switch does not start
            raise SafetyError(f"dead-man switch could not be armed ({type(e).__name__}: {e}): refusing to "
                              "start (fail closed)") from None
        trigger = (res or {}).get("trigger_time")
        if not trigger or trigger == "0":
            raise SafetyError(f"dead-man switch not armed: the venue answered {res!r}: refusing to start "
                              "(fail closed)")
        now = self._clock()
        self._last, self.trigger_time = now, str(trigger)
        if not self.lapsed:  # a lapsed switch stays lapsed: the session is stopping
            self.armed_until = now + self.timeout - self.margin
        self.failures = 0
        self.arms += 1
        return {"event": "deadman_armed", "timeout": self.timeout, "refresh": self.refresh,
                "trigger_time": self.trigger_time}

    def is_armed(self) -> bool:
        """Whether the switch is confirmed armed now (before ``armed_until`` and not lapsed)."""
        return not self.lapsed and self.armed_until is not None and self._clock() < self.armed_until

    def describe(self) -> str:
        """Why the switch does not count as armed (for a denial's reason)."""
        if self.lapsed:
            return f"lapsed after {self.max_failures} consecutive failed re-arms"
        if self.armed_until is None:
            return "never armed"
        return f"not confirmed armed since {self._clock() - self.armed_until:.1f} s (last re-arm failed)"

    def tick(self) -> None:
        """Re-arm when ``refresh`` seconds have passed since the last arm. Never raises: a failed re-arm is
        recorded (``deadman_refresh_failed``); orders are denied at the wire once ``armed_until`` has passed
        and after ``max_failures`` consecutive failures the switch lapses (``deadman_lapsed``, latched); the
        venue's switch then fires at the timeout (resting orders cancelled: the safe outcome)."""
        if self.lapsed or (self._last is not None and self._clock() - self._last < self.refresh):
            return
        try:
            self.arm()
        except SafetyError as e:
            self._last = self._clock()  # try again after the next refresh interval, not in a tight loop
            self.failures += 1
            self.events.append({"event": "deadman_refresh_failed", "error": str(e), "failures": self.failures})
            if self.failures >= self.max_failures:
                self.lapsed = True
                self.armed_until = None
                self.events.append({"event": "deadman_lapsed", "failures": self.failures, "error": str(e),
                                    "message": f"dead-man switch lapsed after {self.failures} consecutive failed "
                                               "re-arms: orders are denied and the session stops"})

    def sleeper(self, stop: threading.Event, sleep: Callable[[float], None] | None = None) -> Callable[[float], None]:
        """Return a ``sleep(seconds)`` for the session's clock that re-arms the switch while it waits (in
        pieces of at most ``refresh`` seconds; a wait ends early when ``stop`` is set). With ``sleep``
        injected (a test's fake clock) it re-arms once and calls it."""
        def wait(seconds: float) -> None:
            if sleep is not None:  # an injected clock (tests) keeps its own time: re-arm once per wait
                self.tick()
                sleep(seconds)
                return
            end = self._clock() + max(0.0, seconds)
            while True:
                self.tick()
                left = end - self._clock()
                if left <= 0 or stop.is_set():
                    return
                stop.wait(min(left, self.refresh))
        return wait
