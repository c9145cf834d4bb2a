"""Session plan: a session's arguments checked and resolved into what it will do, before anything is written.

:func:`check_args` validates the scalar arguments; :func:`plan_session` resolves the strategy, its
parameters and the backtest options exactly as :func:`peaktrade.backtest.run` does; then
:func:`plan_replay` loads the stored bars to replay or :func:`plan_polling` connects a venue and
loads the warm-up history. :func:`safety_checks` builds the environment's pre-trade checks (fail
closed). A bad input raises a :class:`~peaktrade.live.feeds.SessionError` (or another
:class:`~peaktrade.errors.PeakTradeError`) before the run directory exists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade.adapters.errors import ExchangeError
from peaktrade.adapters.kraken import translate
from peaktrade.backtest.options import OPTION_NAMES, BacktestOptions, strategy_options
from peaktrade.errors import PeakTradeError, bad_value
from peaktrade.execution.pipeline import OrderCheck
from peaktrade.live.feeds import BarPoller, SessionError, parse_replay
from peaktrade.strategies.base import STOP_PARAMS, Strategy
from peaktrade.strategies.stepping import ReplaySignalStepper, RollingSignalStepper, SizeFraction, rolling_window

if TYPE_CHECKING:
    from peaktrade.config import Config

#: Environments :func:`~peaktrade.live.run_session` runs (testnet: :mod:`peaktrade.live.testnet`;
#: live needs a real-money runner, not here).
ENVIRONMENTS = ("paper", "shadow")
#: Modes of a plan: stored bars replayed, or completed bars polled from a venue.
REPLAY, POLL = "replay", "poll"


@dataclass
class SessionPlan:
    """What a session will do, validated and loaded before its run directory is created."""

    strategy: Strategy
    symbol: str
    timeframe: str
    step: pd.Timedelta
    resolved: dict[str, Any]
    stops: dict[str, Any]
    options: BacktestOptions  # stops included
    frac: SizeFraction | None
    mode: str = REPLAY
    exchange: str = ""
    history: pd.DataFrame | None = None
    signals: Any = None
    play: pd.DataFrame | None = None
    poller: BarPoller | None = None
    replay_info: dict[str, Any] | None = None
    data_fingerprint: str | None = None


def check_args(*, environment: str, replay: Any, poll: bool, speed: Any, warmup: Any, max_bars: Any,
               poll_interval: Any, max_history: Any) -> None:
    """Raise :class:`SessionError` naming the first bad argument of :func:`~peaktrade.live.run_session`."""
    if environment not in ENVIRONMENTS:
        raise SessionError(bad_value("environment", environment, f"one of {', '.join(ENVIRONMENTS)} "
                                     "(testnet sessions: peaktrade.live.run_testnet_session; live needs a "
                                     "real-money runner)"))
    if poll and replay is not None:
        raise SessionError("replay and poll are exclusive: replay stored bars or poll the exchange, not both")
    if not poll and replay is None:
        raise SessionError("a session needs a data source: replay='START:END' (stored bars) or poll=True "
                           "(completed bars polled from the exchange)")
    if environment == "shadow" and not poll:
        raise SessionError("a shadow session runs on real market data: use poll=True (paper replays stored bars)")
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not math.isfinite(speed) or speed < 0:
        raise SessionError(bad_value("speed", speed, "bars per second >= 0 (0: as fast as possible)"))
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise SessionError(bad_value("warmup", warmup, "an integer >= 0"))
    if max_bars is not None and (isinstance(max_bars, bool) or not isinstance(max_bars, int) or max_bars <= 0):
        raise SessionError(bad_value("max_bars", max_bars, "an integer > 0 or None"))
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or not poll_interval > 0:
        raise SessionError(bad_value("poll_interval", poll_interval, "seconds > 0"))
    if poll and (isinstance(max_history, bool) or not isinstance(max_history, int) or max_history < 2):
        raise SessionError(bad_value("max_history", max_history, "an integer >= 2"))


def plan_session(strategy: str | Strategy, cfg: Config, *, symbol: str, timeframe: str,
                 params: Mapping[str, Any] | None, options: dict[str, Any]) -> SessionPlan:
    """Resolve the strategy, its parameters and the backtest options exactly as ``run()`` does."""
    from peaktrade.backtest.engine import resolve_params
    from peaktrade.data.schema import canonical_timeframe, parse_timeframe
    from peaktrade.strategies.registry import get_strategy

    timeframe = canonical_timeframe(timeframe)
    strat = get_strategy(strategy, config=cfg)  # the session's project: its [strategies] paths, not the cwd's
    unknown = sorted(k for k in options if k not in OPTION_NAMES or k in STOP_PARAMS)
    if unknown:
        raise SessionError(f"unknown option(s) {', '.join(unknown)}: expected some of "
                           f"{', '.join(k for k in OPTION_NAMES if k not in STOP_PARAMS)} "
                           f"(strategy parameters and stops go in params)")
    resolved, stops = resolve_params(strat, dict(params or {}))
    opts = BacktestOptions.from_config(cfg, **strategy_options(strat, options)[0]).replace(**stops)  # validated exactly as run() does
    return SessionPlan(strat, symbol, timeframe, parse_timeframe(timeframe), resolved, stops, opts,
                       opts.size_fraction if opts.sizing.size_type == "vol_target" else None)


def plan_replay(plan: SessionPlan, cfg: Config, *, exchange: str | None, replay: Any, bars: pd.DataFrame | None,
                warmup: int, speed: float) -> None:
    """Load the bars to replay (and the warm-up before them); raise when there are none."""
    from peaktrade.data.schema import fingerprint

    lo, hi = parse_replay(replay)
    if bars is None:
        from peaktrade.data import load_bars

        exchange = exchange or cfg.data.exchange
        allbars = load_bars(plan.symbol, plan.timeframe, exchange=exchange, end=hi, config=cfg)
    else:
        from peaktrade.backtest.engine import check_bars

        check_bars(bars)
        exchange = exchange or str(bars.attrs.get("exchange", "given"))
        allbars = bars if hi is None else bars[bars.index < hi]
    play = allbars if lo is None else allbars[allbars.index >= lo]
    if play.empty:
        have = (f"stored {allbars.index[0]:%Y-%m-%d %H:%M} → {allbars.index[-1]:%Y-%m-%d %H:%M}"
                if len(allbars) else "nothing before END")
        raise SessionError(f"no {plan.symbol} {plan.timeframe} bars to replay in {replay!r} ({have})")
    before = allbars.iloc[:len(allbars) - len(play)]
    warm = before.iloc[-warmup:] if warmup else before.iloc[:0]
    plan.mode, plan.exchange, plan.play, plan.history = REPLAY, exchange, play, warm
    plan.data_fingerprint = fingerprint(play)
    plan.replay_info = {"start": play.index[0], "end": play.index[-1] + plan.step, "bars": len(play),
                        "requested": [lo, hi], "speed": float(speed)}
    plan.signals = ReplaySignalStepper(plan.strategy, plan.resolved,
                                       pd.concat([warm, play]) if len(warm) else play, len(warm), plan.frac)


def plan_polling(plan: SessionPlan, cfg: Config, *, exchange: str | None, client: Any, warmup: int,
                 poll_interval: float, max_history: int, catch_up: int = 0) -> pd.DataFrame:
    """Connect the data source and load the warm-up history (a venue error is one line, before any file).

    The last ``catch_up`` completed bars are not history: they are returned, to be traded first. A
    strategy that declares ``warmup`` gets at least the rolling window its signals are recomputed on
    (:func:`~peaktrade.strategies.stepping.rolling_window`; at most what the venue serves), so its first
    polled bars see the same bars as every later one.
    """
    exchange = exchange or cfg.data.exchange
    if plan.strategy.warmup:
        warmup = max(warmup, rolling_window(plan.strategy, max_history))
    if client is None:
        if exchange.lower() == "synthetic":
            raise SessionError("exchange='synthetic' is offline demo data: polled sessions poll an exchange "
                               "such as 'kraken' (replay synthetic bars with replay=...)")
        from peaktrade.adapters.kraken import RetryPolicy, public_client

        # one attempt per poll: the feed retries with a backoff a stop request interrupts (an adapter
        # retry sleeps through it)
        client = public_client(exchange, retry=RetryPolicy(max_attempts=1))
    poller = BarPoller(client, plan.symbol, plan.timeframe, poll_interval=poll_interval,
                       limit=max(warmup + catch_up, 2) + 2)
    try:
        loaded = poller.warmup(warmup + catch_up)
    except PeakTradeError as e:
        if not isinstance(e, ExchangeError):
            raise
        raise SessionError(f"cannot fetch {plan.symbol} {plan.timeframe} bars from {exchange}: {e}") from e
    except Exception as e:  # noqa: BLE001 — classified by the adapter's one classifier, reported in one line
        raise SessionError(f"cannot fetch {plan.symbol} {plan.timeframe} bars from {exchange}: "
                           f"{translate(e, operation='fetch_ohlcv')}") from e
    history = loaded.iloc[:len(loaded) - catch_up] if catch_up else loaded
    plan.mode, plan.exchange, plan.poller, plan.history = POLL, exchange, poller, history
    plan.signals = RollingSignalStepper(plan.strategy, plan.resolved, history=history, max_history=max_history,
                                        frac=plan.frac)
    return loaded.iloc[len(loaded) - catch_up:] if catch_up else loaded.iloc[:0]


def safety_checks(environment: str, cfg: Config, *, executor_kind: str = "paper") -> list[OrderCheck]:
    """Return the pre-trade checks of ``environment``; refuse to start without them (fail closed)."""
    try:
        from peaktrade.safety import build_checks
    except ImportError as e:
        raise SessionError(
            f"the safety layer (peaktrade.safety.build_checks) is not available ({type(e).__name__}: {e}): "
            f"refusing to start a {environment} session without pre-trade checks (fail closed)"
        ) from None
    try:
        checks = build_checks(environment, config=cfg, executor_kind=executor_kind)
    except PeakTradeError:
        raise
    except Exception as e:  # noqa: BLE001 — a safety layer that cannot be built must not be bypassed
        raise SessionError(f"cannot build the {environment} safety checks ({type(e).__name__}: {e}): "
                           f"refusing to start (fail closed)") from e
    return list(checks)
