"""The dead-man switch of a session that places orders (Kraken ``CancelAllOrdersAfter``).

Armed before the session's first order and re-armed every ``refresh`` seconds from the session's own
thread (its waits between polls are cut into pieces no longer than ``refresh``; no second thread shares
the client, whose requests carry strictly increasing nonces). If the session dies — kill -9, a crash, a
hung process, a lost network — nobody re-arms it and the venue cancels every open order of the account at
the timeout. The switch is account-wide: a session never disarms it on exit (another session of the
account may rely on it); the resting orders of a finished session are cancelled at the timeout unless
another session keeps the switch armed.
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
        Seconds until the venue cancels, and between re-arms (``refresh < timeout``).
    clock
        Monotonic seconds (tests).
    """

    def __init__(self, client: Any, *, timeout: float, refresh: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < refresh < timeout:
            raise SafetyError(f"dead-man switch: refresh={refresh} must be > 0 and shorter than timeout={timeout}")
        self.client = client
        self.timeout = float(timeout)
        self.refresh = float(refresh)
        self._clock = clock
        self._last: float | None = None
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
        self._last, self.trigger_time = self._clock(), str(trigger)
        self.arms += 1
        return {"event": "deadman_armed", "timeout": self.timeout, "refresh": self.refresh,
                "trigger_time": self.trigger_time}

    def tick(self) -> None:
        """Re-arm when ``refresh`` seconds have passed since the last arm. Never raises: a failed re-arm is
        recorded; the switch then fires at the timeout (resting orders cancelled: the safe outcome)."""
        if self._last is not None and self._clock() - self._last < self.refresh:
            return
        try:
            self.arm()
        except SafetyError as e:
            self._last = self._clock()  # try again after the next refresh interval, not in a tight loop
            self.events.append({"event": "deadman_refresh_failed", "error": str(e)})

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
