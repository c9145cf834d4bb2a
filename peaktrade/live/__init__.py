"""Live layer: sessions of every environment (paper, shadow, testnet), their feeds, plans, run logs and budgets.

"Live" names the layer where strategies trade bar by bar; the real-money *environment* is ``live``
(see :mod:`peaktrade.safety`), which no session here runs.
"""

from peaktrade.live.budget import (
    BudgetCheck,
    BudgetExceeded,
    BudgetLimits,
    BudgetStoreError,
    DuplicateClientOrderId,
    TestnetBudget,
)
from peaktrade.live.feeds import BarPoller, Clock, SessionError, bars_frame, parse_replay, replay_bars
from peaktrade.live.plan import SessionPlan, plan_polling, plan_replay, plan_session
from peaktrade.live.recorder import Recorder, session_meta, session_summary
from peaktrade.live.replay import paper_replay
from peaktrade.live.runlog import (
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
from peaktrade.live.session import LoopResult, SessionResult, run_bars, run_session
from peaktrade.live.testnet import (
    MODES,
    TestnetError,
    TestnetResult,
    budget_from_config,
    build_client,
    get_profile,
    run_notebook,
    run_testnet_session,
    testnet_guard,
)

__all__ = [
    "EVENT_TYPES",
    "MODES",
    "BarPoller",
    "BudgetCheck",
    "BudgetExceeded",
    "BudgetLimits",
    "BudgetStoreError",
    "Clock",
    "DuplicateClientOrderId",
    "EventLog",
    "EventTail",
    "LoopResult",
    "Recorder",
    "RunInfo",
    "RunLog",
    "RunLogError",
    "RunLogWarning",
    "SessionError",
    "SessionPlan",
    "SessionResult",
    "TestnetBudget",
    "TestnetError",
    "TestnetResult",
    "bars_frame",
    "budget_from_config",
    "build_client",
    "effective_status",
    "find_run",
    "get_profile",
    "list_runs",
    "paper_replay",
    "parse_replay",
    "plan_polling",
    "plan_replay",
    "plan_session",
    "read_events",
    "read_meta",
    "replay_bars",
    "run_bars",
    "run_notebook",
    "run_session",
    "run_testnet_session",
    "session_meta",
    "session_summary",
    "testnet_guard",
]
