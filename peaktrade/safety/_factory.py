"""build_checks: the pre-trade checks of a session, configured from the config."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from peaktrade.execution.pipeline import OrderCheck
from peaktrade.safety._audit import Clock, DecisionLog, make_clock
from peaktrade.safety._environment import TradingEnvironment, parse_executor_kind
from peaktrade.safety._errors import LiveGateClosed, SafetyError
from peaktrade.safety._guard import SafetyGuard
from peaktrade.safety._kill_switch import KillSwitch
from peaktrade.safety._limits import RiskLimits
from peaktrade.safety._live import LiveAuthorization, authorization_valid

if TYPE_CHECKING:
    from peaktrade.config import Config


def build_checks(environment: TradingEnvironment | str = TradingEnvironment.PAPER, *, config: Config,
                 executor_kind: str, now: pd.Timestamp | Clock | None = None,
                 authorization: LiveAuthorization | None = None) -> list[OrderCheck]:
    """Return ``[SafetyGuard, RiskLimits]`` for a session in ``environment``, configured from ``config``.

    Both share one decision log (``<state_dir>/audit.jsonl`` when ``[safety] audit``) and the
    persisted kill switch of the environment (``[safety] state_dir``).

    Parameters
    ----------
    environment
        ``paper`` (default) | ``shadow`` | ``testnet`` | ``live``.
    config
        The loaded :class:`~peaktrade.config.Config`.
    executor_kind
        ``"paper"`` for simulated executors, ``"exchange"`` for exchange adapters; must match the
        environment (paper/shadow → paper, testnet/live → exchange).
    now
        Clock that stamps records (never used to decide on orders, which use market time): None =
        wall clock, a Timestamp = frozen (tests), a callable = itself.
    authorization
        Live only: the :class:`LiveAuthorization` returned by :func:`assert_live_allowed`.

    Raises
    ------
    SafetyError
        When the executor kind does not match the environment.
    ConfigError
        In testnet and live, when a ``[risk]`` limit is not set.
    LiveGateClosed
        In live, without a valid authorization for this config.
    """
    env = TradingEnvironment.parse(environment)
    kind = parse_executor_kind(executor_kind)
    if kind != env.executor_kind:
        raise SafetyError(f"executor_kind={kind!r} does not match the {env} environment: {env} needs "
                          f"executor_kind={env.executor_kind!r}")
    config.risk.require_limits_for(env.value)
    if env is TradingEnvironment.LIVE and not authorization_valid(authorization, config.config_hash()):
        raise LiveGateClosed("live_authorization", "build_checks('live') needs the LiveAuthorization that "
                                                   "assert_live_allowed returned for this config")
    clock = make_clock(now)
    state_dir = config.state_dir
    log = DecisionLog.from_config(config, clock=clock)
    kill_switch = KillSwitch(state_dir, env, clock=clock, log=log)
    guard = SafetyGuard.from_config(env, config, executor_kind=kind, kill_switch=kill_switch, log=log,
                                    authorization=authorization, clock=clock)
    limits = RiskLimits.from_config(env, config, kill_switch=kill_switch, log=log, clock=clock)
    return [guard, limits]
