"""Safety layer: trading environments, the SafetyGuard, RiskLimits, the kill switch and the live gates.

Every order of every session passes ``build_checks(environment, config=..., executor_kind=...)``
— a :class:`SafetyGuard` then :class:`RiskLimits` — inside the execution pipeline. See docs/safety.md.
"""

from peaktrade.safety._audit import DecisionLog, DecisionRecord
from peaktrade.safety._deadman import DeadManSwitch
from peaktrade.safety._environment import EXECUTOR_KINDS, TradingEnvironment, TradingState
from peaktrade.safety._errors import LiveGateClosed, SafetyError
from peaktrade.safety._factory import build_checks
from peaktrade.safety._guard import SafetyGuard
from peaktrade.safety._kill_switch import SCOPES, KillSwitch, SwitchState
from peaktrade.safety._limits import RiskLimits, require_limits_for
from peaktrade.safety._live import (
    LIVE_GATES,
    READINESS_ITEMS,
    GateInputRefused,
    GateResult,
    LiveAuthorization,
    ProbeResult,
    ReadinessItem,
    ReadinessProbe,
    ReadinessReport,
    arm_value,
    assert_live_allowed,
    authorization_venue,
    confirm_token,
    current_readiness_probe,
    live_gates,
    register_readiness_probe,
    resolved_state_dir,
)
from peaktrade.safety._lock import SessionLock, SessionLocked, read_holder
from peaktrade.safety._orders import is_reducing
from peaktrade.safety._readonly import READ_ONLY_METHODS, ReadOnlyGuard

__all__ = [
    "EXECUTOR_KINDS", "LIVE_GATES", "READINESS_ITEMS", "SCOPES", "DeadManSwitch", "DecisionLog", "DecisionRecord", "GateInputRefused",
    "GateResult",
    "KillSwitch", "LiveAuthorization", "LiveGateClosed", "ProbeResult", "ReadinessItem", "ReadinessProbe",
    "ReadinessReport", "READ_ONLY_METHODS", "ReadOnlyGuard", "RiskLimits", "SafetyError", "SafetyGuard", "SessionLock", "SessionLocked", "SwitchState", "TradingEnvironment",
    "TradingState", "arm_value", "assert_live_allowed", "authorization_venue", "build_checks", "confirm_token", "current_readiness_probe",
    "is_reducing", "live_gates", "read_holder", "register_readiness_probe", "require_limits_for", "resolved_state_dir",
]
