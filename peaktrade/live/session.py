"""Sessions: a strategy traded bar by bar through the execution pipeline, with a run log.

:func:`run_session` runs the two environments whose orders are simulated
(:class:`~peaktrade.orders.PaperExecutor`, the backtest's cost model) and never sent anywhere:

``paper``
    Bars replayed from the store (``replay="START:END"``, optionally paced at ``speed`` bars per
    second), or completed bars polled from an exchange's public endpoint (``poll=True``).
``shadow``
    Real market data polled from an exchange's public endpoint (``poll=True``); orders simulated.

Testnet sessions (:mod:`peaktrade.live.testnet`) use the same run loop, :func:`run_bars`. The
pieces: bar feeds (:mod:`peaktrade.live.feeds`), the session plan (:mod:`peaktrade.live.plan`),
the recorder (:mod:`peaktrade.live.recorder`), pipeline assembly
(:func:`peaktrade.execution.assembly.build_pipeline`) and strategy stepping
(:mod:`peaktrade.strategies.stepping`).

Every session writes a run log (see :mod:`peaktrade.live.runlog`), passes every order through the
pre-trade checks of :func:`peaktrade.safety.build_checks` (a session refuses to start when the
safety layer is unavailable: fail closed), and stops gracefully on SIGINT/SIGTERM: the current
bar is finished, the log flushed and the summary written with status ``stopped``.

Signals. In replay mode the strategy's ``prepare`` runs once over warm-up + replayed bars and its
``signal_nb`` is stepped one bar at a time (exactly what :func:`~peaktrade.live.paper_replay`
does). In poll mode the bars arrive one by one, so ``prepare`` is recomputed on the rolling
history at each new bar; both give the same signals on the same bars (tested).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade.execution.assembly import build_pipeline
from peaktrade.execution.ledger import Ledger
from peaktrade.execution.pipeline import ExecutionPipeline, OrderCheck
from peaktrade.live.feeds import DEFAULT_POLL_INTERVAL, DEFAULT_WARMUP, Bar, Clock, SessionError, replay_bars
from peaktrade.live.plan import SessionPlan, check_args, plan_polling, plan_replay, plan_session, safety_checks
from peaktrade.live.recorder import Recorder, session_meta
from peaktrade.live.runlog import COMPLETED, CRASHED, STOPPED, RunLog, new_run_id
from peaktrade.live.watch import SessionWatch, watch_session
from peaktrade.strategies.base import Strategy
from peaktrade.strategies.stepping import DEFAULT_MAX_HISTORY

if TYPE_CHECKING:
    from peaktrade.config import Config


@dataclass
class SessionResult:
    """The outcome of :func:`run_session`.

    Attributes
    ----------
    run_id, run_dir
        Where the run log is.
    status
        ``completed`` (the replay or ``max_bars`` ended), ``stopped`` (SIGINT/SIGTERM or ``stop``).
    summary
        As written to ``meta.json``.
    ledger
        The session's books.
    equity
        Equity at each processed bar's close, indexed by bar open time.
    trades
        Closed round trips (:meth:`Ledger.trades_frame`).
    """

    run_id: str
    run_dir: Path
    status: str
    summary: dict[str, Any]
    ledger: Ledger
    equity: pd.Series
    trades: pd.DataFrame

    @property
    def final_equity(self) -> float:
        return float(self.summary["final_equity"])


class _StopOnSignals:
    """While active, SIGINT/SIGTERM set ``stop`` (the session ends after the current bar); a second
    signal raises KeyboardInterrupt (stop now), except while the summary is written (``closing``).
    Only in the main thread (Python delivers signals there); the previous handlers are restored."""

    def __init__(self, stop: threading.Event, *, enabled: bool) -> None:
        self.stop = stop
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.received: str | None = None
        self.closing = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.closing:
            return
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        self.stop.set()

    def __enter__(self) -> _StopOnSignals:
        if self.enabled:  # before the run directory exists: a stop request is never lost in between
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


@dataclass
class LoopResult:
    """What :func:`run_bars` ran: the run log's directory, the final status and summary, the recorder."""

    run_dir: Path
    status: str
    summary: dict[str, Any]
    recorder: Recorder


def run_bars(plan: SessionPlan, pipe: ExecutionPipeline, meta: Mapping[str, Any], *, runs_dir: Path, run_id: str,
             feed: Callable[[Clock, Recorder], Iterable[Bar]], start: Mapping[str, Any],
             max_bars: int | None = None, run_seconds: float | None = None, stop: threading.Event | None = None,
             handle_signals: bool = True, on_event: Callable[[dict[str, Any]], None] | None = None,
             sleep: Callable[[float], None] | None = None, finish: Callable[[Recorder], None] | None = None,
             on_close: Callable[[RunLog], None] | None = None, config: Config | None = None,
             log: RunLog | None = None, on_start: Callable[[Recorder], None] | None = None) -> LoopResult:
    """Create the run log, trade the bars of ``feed`` through ``pipe`` and close the log: the run loop of every session.

    Parameters
    ----------
    plan, pipe, meta
        The session's plan, pipeline and run-log header (everything validated already).
    runs_dir, run_id
        Where the run log is created.
    feed
        ``feed(clock, recorder)`` yields the bars to trade; it must end or return once ``clock.stop``
        is set (waiting through ``clock.pause``).
    start
        Extra fields of the ``start`` event (after the environment's and the plan's).
    max_bars
        End (``completed``) after this many traded bars.
    run_seconds
        End (``completed``) after this many seconds (None: no deadline).
    stop, handle_signals, on_event, sleep
        As in :func:`run_session`.
    finish
        Called with the recorder after the last bar, before the status is decided (e.g. settle orders).
    on_close
        Called with the run log once its summary is written, also when the run crashed.
    config
        Heartbeat interval, alert rules and destinations, kill-switch state (default: :func:`load_config`).
    log
        An existing run log to append to (a resumed run, :meth:`RunLog.reopen`) instead of creating one.
    on_start
        Called with the recorder after the ``start`` event, before the first bar (a resumed run books the
        fills it missed there, so they are logged before any new order).
    """
    stop = stop if stop is not None else threading.Event()
    watch: SessionWatch = watch_session(config, run_id=run_id, environment=meta["environment"], pipe=pipe, plan=plan)
    meta = {**meta, "heartbeat_seconds": watch.interval}
    clock = Clock(stop, sleep, tick=watch.tick, tick_every=min(1.0, watch.interval / 4))
    timed_out = threading.Event()
    timer = None
    if run_seconds is not None:
        def time_up() -> None:
            timed_out.set()
            stop.set()

        timer = threading.Timer(run_seconds, time_up)
        timer.daemon = True
    with _StopOnSignals(stop, enabled=handle_signals) as signals:
        if log is None:
            log = RunLog.create(runs_dir, run_id, meta)
        else:
            log.update_meta(heartbeat_seconds=watch.interval)
        rec = Recorder(log, pipe, plan, watch.chain(on_event))
        status, error = CRASHED, None
        if timer is not None:
            timer.start()
        try:
            rec.emit("session", None, {"event": "start", "run_id": run_id, "environment": meta["environment"],
                                       "mode": plan.mode, "strategy": plan.strategy.name, "symbol": plan.symbol,
                                       "timeframe": plan.timeframe,
                                       "warmup_bars": 0 if plan.history is None else len(plan.history),
                                       **start, "pid": os.getpid(), "host": socket.gethostname()})
            if on_start is not None:
                on_start(rec)
            log.flush()
            watch.start(rec)
            first = rec.n_bars  # a resumed run's recorder holds its earlier bars: max_bars counts this process's
            for bar in feed(clock, rec):
                if stop.is_set():
                    break
                rec.bar(*bar)
                watch.tick()
                if (max_bars is not None and rec.n_bars - first >= max_bars) or stop.is_set():
                    break
            if finish is not None:
                finish(rec)
            rec.drain_skipped()
            # a deadline reached is a completed run; a stop request (signal, ``stop``) is a stopped one
            status = STOPPED if signals.received or (stop.is_set() and not timed_out.is_set()) else COMPLETED
            if signals.received:
                rec.emit("session", None, {"event": "stop_requested", "signal": signals.received})
        except KeyboardInterrupt:
            status, error = STOPPED, "interrupted twice: stopped immediately, mid-bar"
        except BaseException as e:
            status, error = CRASHED, f"{type(e).__name__}: {e}"
            raise
        finally:
            if timer is not None:
                timer.cancel()
            signals.closing = True  # further signals must not interrupt writing the summary
            summary = rec.close(status, error)
            watch.close()
            if on_close is not None:
                on_close(log)
    return LoopResult(log.run_dir, status, summary, rec)


def run_session(
    strategy: str | Strategy,
    *,
    symbol: str = "BTC/USD",
    timeframe: str = "1h",
    environment: str = "paper",
    exchange: str | None = None,
    params: Mapping[str, Any] | None = None,
    replay: Any = None,
    bars: pd.DataFrame | None = None,
    speed: float = 0.0,
    poll: bool = False,
    client: Any = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    warmup: int | None = None,
    max_history: int = DEFAULT_MAX_HISTORY,
    max_bars: int | None = None,
    checks: Sequence[OrderCheck] | None = None,
    config: Config | None = None,
    run_id: str | None = None,
    stop: threading.Event | None = None,
    handle_signals: bool = True,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    **options: Any,
) -> SessionResult:
    """Run a paper or shadow session and write its run log under ``config.runs_dir``.

    Everything is validated (strategy, parameters, options, data, safety checks) before the run
    directory is created: a bad input raises a :class:`~peaktrade.errors.PeakTradeError` and
    leaves nothing behind.

    Parameters
    ----------
    strategy
        Strategy name or object.
    symbol, timeframe
        The market, e.g. ``"BTC/USD"``, ``"1h"``.
    environment
        ``"paper"`` (replay or poll) or ``"shadow"`` (poll only).
    exchange
        Replay: the store's exchange (default ``[data] exchange``; ``"synthetic"`` for the demo
        data). Poll: the exchange id polled (default ``[data] exchange``).
    params
        Strategy parameters by name (stops ``sl_stop``/``tp_stop``/``sl_trail`` too).
    replay
        ``"START:END"`` (either side may be empty, END exclusive) or ``(start, end)``: replay stored
        bars. Exactly one of ``replay`` and ``poll`` is required.
    bars
        Replay these bars instead of loading them from the store (``replay`` then defaults to all).
    speed
        Replay pacing in bars per second; 0 = as fast as possible.
    poll
        Poll completed bars from an exchange's public endpoint (``client``, default
        :func:`peaktrade.adapters.kraken.public_client` of ``exchange``). "Live" is the real-money
        environment only: a polled paper or shadow session still simulates its orders.
    client
        The data source of poll mode: an exchange client with ``fetch_ohlcv`` and ``milliseconds``.
    poll_interval
        Poll: the longest wait between polls (seconds).
    warmup
        Completed bars before the first traded bar used as indicator history (never traded). In
        replay mode they are the stored bars right before START (fewer when the store starts later). Default
        :data:`~peaktrade.live.feeds.DEFAULT_WARMUP` (720).
    max_history
        Poll: bars kept for recomputing indicators.
    max_bars
        End the session (status ``completed``) after this many traded bars.
    checks
        Pre-trade checks; default (None) :func:`peaktrade.safety.build_checks` for ``environment``.
        Without an importable safety layer the session refuses to start. ``[]`` runs without
        checks (tests).
    config
        :class:`peaktrade.config.Config` (default :func:`~peaktrade.config.load_config`).
    run_id
        Run id (default: time-sortable, unique).
    stop
        An event that ends the session after the current bar when set (also set by SIGINT/SIGTERM
        when ``handle_signals`` and running in the main thread).
    on_event
        Called with every event as it is logged (the CLI prints from it).
    sleep
        Replaces waiting (pacing, polling) — tests pass a fake clock's sleep.
    **options
        Backtest options of :func:`peaktrade.backtest.run` (``init_cash``, ``fees``, ``slippage``,
        ``fixed_fees``, ``execution``, ``direction``, ``size``, ``size_type``, ``vol_window``,
        ``stop_priority``); ``init_cash``, ``fees``, ``slippage`` and ``execution`` default to
        config ``[backtest]``.

    Returns
    -------
    SessionResult
    """
    if "live" in options:
        raise SessionError("run_session(live=...) was renamed poll=...: 'live' is the real-money environment "
                           "only; poll=True polls completed bars from the exchange")
    if config is None:
        from peaktrade.config import load_config

        config = load_config()
    cfg = config

    # -- everything is validated and loaded before the run directory exists ----------------------
    if bars is not None and replay is None:
        replay = True
    warmup = DEFAULT_WARMUP if warmup is None else warmup
    check_args(environment=environment, replay=replay, poll=poll, speed=speed, warmup=warmup, max_bars=max_bars,
               poll_interval=poll_interval, max_history=max_history)
    plan = plan_session(strategy, cfg, symbol=symbol, timeframe=timeframe, params=params, options=options)
    if poll:
        plan_polling(plan, cfg, exchange=exchange, client=client, warmup=warmup, poll_interval=poll_interval,
                     max_history=max_history)
    else:
        plan_replay(plan, cfg, exchange=exchange, replay=replay, bars=bars, warmup=warmup, speed=speed)
    checks = safety_checks(environment, cfg) if checks is None else list(checks)
    pipe = build_pipeline(plan.symbol, plan.options, checks=checks)
    run_id = run_id or new_run_id(environment, plan.strategy.name)
    meta = session_meta(plan, cfg, environment=environment, checks=checks, executor="paper",
                        poll_interval=poll_interval, max_history=max_history, warmup=warmup, max_bars=max_bars)

    def feed(clock: Clock, rec: Recorder) -> Iterable[Bar]:
        if plan.poller is not None:
            return plan.poller.bars(clock, rec.data_error)
        return replay_bars(plan.play, float(speed), clock)

    run = run_bars(plan, pipe, meta, runs_dir=cfg.runs_dir, run_id=run_id, feed=feed, start={}, max_bars=max_bars,
                   stop=stop, handle_signals=handle_signals, on_event=on_event, sleep=sleep, config=cfg)
    return SessionResult(run_id, run.run_dir, run.status, run.summary, pipe.ledger, run.recorder.equity(),
                         pipe.ledger.trades_frame())
