"""Live layer: paper replay, sessions (paper/shadow), run logs."""

from peaktrade.live.replay import SignalStepper, paper_replay
from peaktrade.live.runs import (
    EVENT_TYPES,
    EventLog,
    EventTail,
    RunInfo,
    RunLog,
    RunLogError,
    RunLogWarning,
    effective_status,
    find_run,
    list_runs,
    read_events,
    read_meta,
)
from peaktrade.live.session import (
    LivePoller,
    RollingSignalStepper,
    SessionError,
    SessionResult,
    parse_replay,
    run_session,
)

__all__ = [
    "EVENT_TYPES",
    "EventLog",
    "EventTail",
    "LivePoller",
    "RollingSignalStepper",
    "RunInfo",
    "RunLog",
    "RunLogError",
    "RunLogWarning",
    "SessionError",
    "SessionResult",
    "SignalStepper",
    "effective_status",
    "find_run",
    "list_runs",
    "parse_replay",
    "paper_replay",
    "read_events",
    "read_meta",
    "run_session",
]
