"""Watching sessions: the watchdog (heartbeat missed), health, the terminal monitor and the web dashboard.

See docs/monitoring.md. Nothing here is on an order path: every view reads run logs and the safety state.
"""

from __future__ import annotations

from peaktrade.monitor.watchdog import (
    MISSED_AFTER,
    WATCHDOG_FILE,
    SessionHealth,
    Watchdog,
    running_sessions,
    session_health,
    watchdog_events,
)

__all__ = ["MISSED_AFTER", "WATCHDOG_FILE", "SessionHealth", "Watchdog", "running_sessions", "session_health",
           "watchdog_events"]
