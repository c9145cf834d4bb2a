"""Sessions: a strategy traded bar by bar through the execution pipeline, with a run log.

Two environments run here, both with simulated orders (:class:`~peaktrade.orders.PaperExecutor`,
the backtest's cost model) that are never sent anywhere:

``paper``
    Bars replayed from the store (``replay="START:END"``, optionally paced at ``speed`` bars per
    second), or polled live from a ccxt public endpoint (``live=True``).
``shadow``
    Real market data polled live from a ccxt public endpoint; orders simulated.

Every session writes a run log (see :mod:`peaktrade.live.runlog`), passes every order through the
pre-trade checks of :func:`peaktrade.safety.build_checks` (a session refuses to start when the
safety layer is unavailable: fail closed), and stops gracefully on SIGINT/SIGTERM: the current
bar is finished, the log flushed and the summary written with status ``stopped``.

Signals. In replay mode the strategy's ``prepare`` runs once over warm-up + replayed bars and its
``signal_nb`` is stepped one bar at a time (:class:`~peaktrade.live.SignalStepper`, exactly what
:func:`~peaktrade.live.paper_replay` does). In live mode the bars arrive one by one, so
:class:`RollingSignalStepper` recomputes ``prepare`` on the rolling history at each new bar and
steps ``signal_nb`` for the newest bar with its state carried over; both give the same signals on
the same bars (tested).

Live polling. Each poll fetches OHLCV; a candle is used only once it is *completed* (its open
time + timeframe ≤ the exchange clock), and each completed candle is processed exactly once (in
open-time order, never twice, the unfinished current candle never). Before the first live bar the
last ``warmup`` completed candles are loaded as history, so indicators are ready; they are never
traded.
"""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.errors import PeakTradeError, bad_value
from peaktrade.execution.ledger import Ledger
from peaktrade.execution.pipeline import Decision, ExecutionPipeline, Hooks, OrderCheck, SizingModel, StopRules
from peaktrade.live.replay import SignalStepper
from peaktrade.live.runlog import COMPLETED, CRASHED, STOPPED, RunLog, new_run_id
from peaktrade.orders.model import OrderFill, OrderRequest
from peaktrade.orders.paper import PaperExecutor, PaperMarketContext
from peaktrade.provenance import git_sha
from peaktrade.strategies.base import SIM_PARAMS, Prices, Strategy

#: Environments a session can run in (testnet and live need real executors: not here).
ENVIRONMENTS = ("paper", "shadow")
#: Default number of completed bars loaded before the first traded bar (Kraken serves 720).
DEFAULT_WARMUP = 720
#: Default cap of the rolling history a live session recomputes indicators on.
DEFAULT_MAX_HISTORY = 10_000
#: Default seconds between polls of a live session (it also wakes shortly after each bar closes).
DEFAULT_POLL_INTERVAL = 30.0
#: Seconds after a bar's close before it is fetched (venues finalize candles with a small delay).
POLL_GRACE = 2.0
#: Summary keeps at most this many trades in meta.json (all of them are in trades.parquet).
META_TRADES = 50

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
#: The options from config ``[backtest]`` a session uses when not given.
_CONFIG_OPTIONS = ("init_cash", "fees", "slippage", "execution")


class SessionError(PeakTradeError):
    """A session cannot start or cannot go on (the message says why)."""


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


# -- signals -------------------------------------------------------------------------------------
def _prices(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray,
            time: np.ndarray | None = None) -> Prices:
    # the bar times go along, so a strategy merging a higher timeframe (data.higher_timeframe) runs live too
    return Prices(*(np.ascontiguousarray(a, dtype=np.float64) for a in (o, h, lo, c, v)),
                  time=None if time is None else np.asarray(time, dtype=np.int64).copy())


class RollingSignalStepper:
    """Signals of the newest bar, with ``prepare`` recomputed on the rolling history at each bar.

    Parameters
    ----------
    strategy
        The strategy.
    params
        Its resolved signal parameters.
    history
        Warm-up bars (never traded): ``prepare`` runs over them once and ``signal_nb`` is stepped
        through them so its state is that of a run that started at the first history bar.
    max_history
        Bars kept for ``prepare``; older ones are dropped. Indicators with finite lookback are
        unaffected as long as it exceeds the lookback; recursive ones (EMA) then start from the
        window instead of the first bar.
    frac
        ``frac(prices, index) -> array``: the per-bar size fraction (vol targeting); the last value
        is returned with each signal. None: always 1.
    """

    def __init__(self, strategy: Strategy, params: Mapping[str, Any], *, history: pd.DataFrame | None = None,
                 max_history: int = DEFAULT_MAX_HISTORY,
                 frac: Callable[[Prices, pd.DatetimeIndex], np.ndarray] | None = None) -> None:
        if not isinstance(max_history, int) or max_history < 2:
            raise SessionError(bad_value("max_history", max_history, "an integer >= 2"))
        self.strategy = strategy
        self.params = dict(params)
        self.max_history = max_history
        self.frac_fn = frac
        self.state = np.zeros(max(strategy.n_state, 1))
        self._e = np.zeros(1, dtype=np.bool_)
        self._x = np.zeros(1, dtype=np.bool_)
        h = history if history is not None else pd.DataFrame(columns=["open", "high", "low", "close", "volume"])
        h = h.iloc[-max_history:]
        self.times = np.asarray(pd.DatetimeIndex(h.index).as_unit("ns").asi8 if len(h) else [], dtype=np.int64)
        self.cols = [np.asarray(h[c].to_numpy(dtype=np.float64) if c in h else np.zeros(len(h)))
                     for c in ("open", "high", "low", "close", "volume")]
        if len(h):
            prep = strategy.prepare(_prices(*self.cols, time=self.times), [self.params])
            for t in range(len(h)):
                self._step(prep, t)

    def _step(self, prep: Any, t: int) -> tuple[bool, bool]:
        self.strategy.signal_nb(prep.ind, prep.cols[0], prep.fpar[0], self.state, t, t + 1, self._e, self._x)
        return bool(self._e[0]), bool(self._x[0])

    def push(self, time: pd.Timestamp, o: float, h: float, lo: float, c: float, v: float) -> tuple[bool, bool, float]:
        """Append one completed bar; return its (entry, exit, size fraction)."""
        ts = pd.Timestamp(time)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
        self.times = np.append(self.times, ts.as_unit("ns").value)[-self.max_history:]
        for i, x in enumerate((o, h, lo, c, v)):
            self.cols[i] = np.append(self.cols[i], float(x))[-self.max_history:]
        prices = _prices(*self.cols, time=self.times)
        prep = self.strategy.prepare(prices, [self.params])
        e, x = self._step(prep, len(self.times) - 1)
        f = 1.0
        if self.frac_fn is not None:
            arr = self.frac_fn(prices, pd.DatetimeIndex(self.times, tz="UTC"))
            f = float(arr[-1] if len(arr) > 1 else arr[0])
        return e, x, f


class _ReplaySignals:
    """SignalStepper over warm-up + replayed bars, stepped through the warm-up on construction."""

    def __init__(self, strategy: Strategy, params: Mapping[str, Any], bars: pd.DataFrame, n_warm: int,
                 frac: Callable[[Prices, pd.DatetimeIndex], np.ndarray] | None) -> None:
        self.stepper = SignalStepper(strategy, bars, dict(params))
        self.t = 0
        self.frac = np.ones(1)
        if frac is not None:
            b = bars if "volume" in bars else bars.assign(volume=0.0)
            self.frac = frac(_prices(*(b[c].to_numpy() for c in ("open", "high", "low", "close", "volume"))),
                             bars.index)
        for _ in range(n_warm):
            self.stepper.step(self.t)
            self.t += 1

    def push(self, time: pd.Timestamp, o: float, h: float, lo: float, c: float, v: float) -> tuple[bool, bool, float]:
        e, x = self.stepper.step(self.t)
        f = float(self.frac[self.t if len(self.frac) > 1 else 0])
        self.t += 1
        return e, x, f


# -- bar sources ---------------------------------------------------------------------------------
Bar = tuple[pd.Timestamp, float, float, float, float, float]


class _Clock:
    """Interruptible waiting: ``stop.wait`` by default (a stop request ends the wait), or an injected sleep."""

    def __init__(self, stop: threading.Event, sleep: Callable[[float], None] | None) -> None:
        self.stop = stop
        self.sleep = sleep

    def pause(self, seconds: float) -> None:
        if seconds <= 0 or self.stop.is_set():
            return
        if self.sleep is None:
            self.stop.wait(seconds)
        else:
            self.sleep(seconds)


def _replay_bars(bars: pd.DataFrame, speed: float, clock: _Clock) -> Iterator[Bar]:
    """Yield the bars, paced at ``speed`` bars per second (0: as fast as possible)."""
    arr = bars[["open", "high", "low", "close"]].to_numpy(dtype=np.float64)
    vol = bars["volume"].to_numpy(dtype=np.float64) if "volume" in bars else np.zeros(len(bars))
    t0 = time.monotonic()
    for i, ts in enumerate(bars.index):
        if speed > 0 and i > 0:
            if clock.sleep is None:
                clock.pause(t0 + i / speed - time.monotonic())
            else:
                clock.pause(1.0 / speed)
        if clock.stop.is_set():
            return
        yield ts, arr[i, 0], arr[i, 1], arr[i, 2], arr[i, 3], vol[i]


class LivePoller:
    """Completed bars from a ccxt-like client (``fetch_ohlcv`` and ``milliseconds``), each exactly once.

    Parameters
    ----------
    client
        Anything with ``fetch_ohlcv(symbol, timeframe, since=None, limit=None)`` returning
        ``[[open_ms, open, high, low, close, volume], ...]`` and ``milliseconds()`` (the venue
        clock): a ccxt exchange, or a fake in tests.
    symbol, timeframe
        The market.
    poll_interval
        Longest wait between polls, in seconds; the poller also wakes ``POLL_GRACE`` seconds after
        the next bar's close.
    limit
        Candles requested per poll (Kraken serves at most 720).
    """

    def __init__(self, client: Any, symbol: str, timeframe: str, *, poll_interval: float = DEFAULT_POLL_INTERVAL,
                 limit: int = DEFAULT_WARMUP) -> None:
        from peaktrade.data.schema import timeframe_to_minutes

        self.client = client
        self.symbol = symbol
        self.timeframe = timeframe
        self.tf_ms = timeframe_to_minutes(timeframe) * 60_000
        self.poll_interval = float(poll_interval)
        self.limit = int(limit)
        self.last_ts: int | None = None
        self.polls = 0
        self.skipped: list[tuple[int, str]] = []
        self._bad: set[int] = set()

    def now_ms(self) -> int:
        return int(self.client.milliseconds())

    def fetch_completed(self, *, since: int | None = None, limit: int | None = None) -> list[list[float]]:
        """Fetch and return the completed candles newer than the last one returned, oldest first."""
        raw = self.client.fetch_ohlcv(self.symbol, self.timeframe, since=since, limit=limit or self.limit)
        self.polls += 1
        now = self.now_ms()
        seen: dict[int, list[float]] = {}
        for row in raw or []:
            try:
                ts = int(row[0])
                vals = [float(x) if x is not None else math.nan for x in row[1:6]]
            except (TypeError, ValueError, IndexError):
                continue
            if ts + self.tf_ms > now:
                continue  # the unfinished current candle is never used
            if self.last_ts is not None and ts <= self.last_ts:
                continue  # processed already
            if len(vals) < 5 or not all(math.isfinite(x) for x in vals[:4]):
                if ts not in self._bad:  # reported once, never traded
                    self._bad.add(ts)
                    self.skipped.append((ts, f"non-finite price in candle {row!r}"))
                continue
            vals[4] = vals[4] if math.isfinite(vals[4]) else 0.0
            seen[ts] = [ts, *vals]
        return [seen[k] for k in sorted(seen)]

    def warmup(self, n: int) -> pd.DataFrame:
        """Fetch the completed candles, mark the newest as processed and return the last ``n`` as bars."""
        rows = self.fetch_completed(limit=max(n, 1) + 1)  # + the unfinished current candle
        if rows:
            self.last_ts = int(rows[-1][0])
        rows = rows[-n:] if n > 0 else []
        return _bars_frame(rows)

    def next_wait(self) -> float:
        """Return the seconds to wait before the next poll."""
        if self.last_ts is None:
            return self.poll_interval
        due = self.last_ts + 2 * self.tf_ms + POLL_GRACE * 1000  # close of the next bar + grace
        wait = (due - self.now_ms()) / 1000.0
        return min(self.poll_interval, max(wait, min(1.0, self.poll_interval)))

    def bars(self, clock: _Clock, on_error: Callable[[BaseException, float], None]) -> Iterator[Bar]:
        """Yield newly completed bars until ``clock.stop`` is set; retry retryable fetch errors."""
        from peaktrade.adapters.kraken import describe_error, is_retryable

        backoff = 1.0
        while not clock.stop.is_set():
            try:
                since = self.last_ts + 1 if self.last_ts is not None else None
                rows = self.fetch_completed(since=since)
            except Exception as e:  # noqa: BLE001 — classified below; only network trouble is retried
                if not is_retryable(e):
                    raise SessionError(f"cannot poll {self.symbol} {self.timeframe} bars: {describe_error(e)}") from e
                wait = min(backoff, max(self.poll_interval, 1.0))
                on_error(e, wait)
                clock.pause(wait)
                backoff = min(backoff * 2, 300.0)
                continue
            backoff = 1.0
            for r in rows:
                self.last_ts = int(r[0])
                yield pd.Timestamp(int(r[0]) * 1_000_000, tz="UTC"), r[1], r[2], r[3], r[4], r[5]
                if clock.stop.is_set():
                    return
            clock.pause(self.next_wait())


def _bars_frame(rows: list[list[float]]) -> pd.DataFrame:
    idx = pd.DatetimeIndex(pd.to_datetime([int(r[0]) for r in rows], unit="ms", utc=True), name="time").as_unit("ns")
    data = np.asarray([r[1:6] for r in rows], dtype=np.float64).reshape(len(rows), 5)
    return pd.DataFrame(data, index=idx, columns=["open", "high", "low", "close", "volume"])


# -- helpers -------------------------------------------------------------------------------------
def parse_replay(spec: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Parse ``"START:END"`` (either side may be empty; times may contain ':') into UTC bounds.

    ``END`` is exclusive. A tuple ``(start, end)`` or ``True`` (everything) is accepted too.
    """
    from peaktrade.data.schema import to_utc_timestamp

    if spec is True:
        return None, None
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        lo, hi = spec
    elif isinstance(spec, str):
        text = spec.strip()
        cuts = [i for i, ch in enumerate(text) if ch == ":"]
        found = None
        for i in cuts:
            a, b = text[:i].strip(), text[i + 1:].strip()
            if not all(_DATE.match(x) for x in (a, b) if x):
                continue  # each side must start like a date: a cut inside "05:00" is not the separator
            try:
                pa = to_utc_timestamp(a, name="replay start") if a else None
                pb = to_utc_timestamp(b, name="replay end") if b else None
            except (PeakTradeError, ValueError, TypeError):
                continue
            found = (pa, pb)
            break
        if found is None:
            raise SessionError(bad_value("replay", spec, "START:END with dates, e.g. 2020-01-01:2020-02-01 "
                                         "(either side may be empty)"))
        lo, hi = found
    else:
        raise SessionError(bad_value("replay", spec, "'START:END' or (start, end)"))
    lo = to_utc_timestamp(lo, name="replay start") if lo is not None else None
    hi = to_utc_timestamp(hi, name="replay end") if hi is not None else None
    if lo is not None and hi is not None and not lo < hi:
        raise SessionError(bad_value("replay", spec, "START before END"))
    return lo, hi


def _safety_checks(environment: str, cfg: Any) -> list[OrderCheck]:
    """Return the pre-trade checks of ``environment``; refuse to start without them (fail closed)."""
    try:
        from peaktrade.safety import build_checks
    except ImportError as e:
        raise SessionError(
            f"the safety layer (peaktrade.safety.build_checks) is not available ({type(e).__name__}: {e}): "
            f"refusing to start a {environment} session without pre-trade checks (fail closed)"
        ) from None
    try:
        checks = build_checks(environment, config=cfg, executor_kind="paper")
    except PeakTradeError:
        raise
    except Exception as e:  # noqa: BLE001 — a safety layer that cannot be built must not be bypassed
        raise SessionError(f"cannot build the {environment} safety checks ({type(e).__name__}: {e}): "
                           f"refusing to start (fail closed)") from e
    return list(checks)


def _check_name(check: Any) -> str:
    name = getattr(check, "name", None)
    return name if isinstance(name, str) and name else type(check).__name__


# -- the session ---------------------------------------------------------------------------------
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
    live: bool = False,
    client: Any = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    warmup: int = DEFAULT_WARMUP,
    max_history: int = DEFAULT_MAX_HISTORY,
    max_bars: int | None = None,
    checks: Sequence[OrderCheck] | None = None,
    config: Any = None,
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
        ``"paper"`` (replay or live) or ``"shadow"`` (live only).
    exchange
        Replay: the store's exchange (default ``[data] exchange``; ``"synthetic"`` for the demo
        data). Live: the ccxt exchange id polled (default ``[data] exchange``).
    params
        Strategy parameters by name (stops ``sl_stop``/``tp_stop``/``sl_trail`` too).
    replay
        ``"START:END"`` (either side may be empty, END exclusive) or ``(start, end)``: replay stored
        bars. Exactly one of ``replay`` and ``live`` is required.
    bars
        Replay these bars instead of loading them from the store (``replay`` then defaults to all).
    speed
        Replay pacing in bars per second; 0 = as fast as possible.
    live
        Poll live bars from a ccxt public endpoint (``client``, default
        :func:`peaktrade.adapters.kraken.public_client` of ``exchange``).
    client
        The data source of live mode: an object with ``fetch_ohlcv`` and ``milliseconds``.
    poll_interval
        Live: the longest wait between polls (seconds).
    warmup
        Completed bars before the first traded bar used as indicator history (never traded). In
        replay mode they are the stored bars right before START (fewer when the store starts later).
    max_history
        Live: bars kept for recomputing indicators.
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
        Simulator options of :func:`peaktrade.backtest.run` (``init_cash``, ``fees``, ``slippage``,
        ``fixed_fees``, ``execution``, ``direction``, ``size``, ``size_type``, ``vol_window``,
        ``stop_priority``); ``init_cash``, ``fees``, ``slippage`` and ``execution`` default to
        config ``[backtest]``.

    Returns
    -------
    SessionResult
    """
    if config is None:
        from peaktrade.config import load_config

        config = load_config()
    cfg = config

    # -- everything is validated and loaded before the run directory exists ----------------------
    if bars is not None and replay is None:
        replay = True
    _check_args(environment=environment, replay=replay, live=live, speed=speed, warmup=warmup, max_bars=max_bars,
                poll_interval=poll_interval)
    plan = _plan(strategy, cfg, symbol=symbol, timeframe=timeframe, params=params, options=options)
    if live:
        _plan_live(plan, cfg, exchange=exchange, client=client, warmup=warmup, poll_interval=poll_interval,
                   max_history=max_history)
    else:
        _plan_replay(plan, cfg, exchange=exchange, replay=replay, bars=bars, warmup=warmup, speed=speed)
    checks = _safety_checks(environment, cfg) if checks is None else list(checks)
    pipe = _pipeline(plan, checks)
    run_id = run_id or new_run_id(environment, plan.strategy.name)
    meta = _meta(plan, cfg, environment=environment, checks=checks, live=live, poll_interval=poll_interval,
                 max_history=max_history, warmup=warmup, max_bars=max_bars)

    # -- the run -----------------------------------------------------------------------------------
    stop = stop if stop is not None else threading.Event()
    clock = _Clock(stop, sleep)
    with _StopOnSignals(stop, enabled=handle_signals) as signals:
        log = RunLog.create(cfg.runs_dir, run_id, meta)
        rec = _Recorder(log, pipe, plan, on_event)
        status, error = CRASHED, None
        try:
            rec.emit("session", None, {"event": "start", "run_id": run_id, "environment": environment,
                                       "mode": plan.mode, "strategy": plan.strategy.name, "symbol": symbol,
                                       "timeframe": plan.timeframe, "warmup_bars": len(plan.history),
                                       "pid": os.getpid(), "host": socket.gethostname()})
            log.flush()
            if plan.poller is not None:
                source: Iterator[Bar] = plan.poller.bars(clock, rec.data_error)
            else:
                source = _replay_bars(plan.play, float(speed), clock)
            for bar in source:
                rec.bar(*bar)
                if (max_bars is not None and rec.n_bars >= max_bars) or stop.is_set():
                    break
            rec.drain_skipped()
            status = STOPPED if stop.is_set() else COMPLETED
            if signals.received:
                rec.emit("session", None, {"event": "stop_requested", "signal": signals.received})
        except KeyboardInterrupt:
            status, error = STOPPED, "interrupted twice: stopped immediately, mid-bar"
        except BaseException as e:
            status, error = CRASHED, f"{type(e).__name__}: {e}"
            raise
        finally:
            signals.closing = True  # further signals must not interrupt writing the summary
            summary = rec.close(status, error)
    return SessionResult(run_id, log.run_dir, status, summary, pipe.ledger, rec.equity(), pipe.ledger.trades_frame())


def _check_args(*, environment: str, replay: Any, live: bool, speed: Any, warmup: Any, max_bars: Any,
                poll_interval: Any) -> None:
    if environment not in ENVIRONMENTS:
        raise SessionError(bad_value("environment", environment, f"one of {', '.join(ENVIRONMENTS)} "
                                     "(testnet and live sessions need a real executor)"))
    if live and replay is not None:
        raise SessionError("replay and live are exclusive: replay stored bars or poll live ones, not both")
    if not live and replay is None:
        raise SessionError("a session needs a data source: replay='START:END' (stored bars) or live=True")
    if environment == "shadow" and not live:
        raise SessionError("a shadow session runs on live market data: use live=True (paper replays stored bars)")
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not math.isfinite(speed) or speed < 0:
        raise SessionError(bad_value("speed", speed, "bars per second >= 0 (0: as fast as possible)"))
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise SessionError(bad_value("warmup", warmup, "an integer >= 0"))
    if max_bars is not None and (isinstance(max_bars, bool) or not isinstance(max_bars, int) or max_bars <= 0):
        raise SessionError(bad_value("max_bars", max_bars, "an integer > 0 or None"))
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or not poll_interval > 0:
        raise SessionError(bad_value("poll_interval", poll_interval, "seconds > 0"))


@dataclass
class _Plan:
    """What a session will do, validated and loaded before its run directory is created."""

    strategy: Strategy
    symbol: str
    timeframe: str
    step: pd.Timedelta
    resolved: dict[str, Any]
    stops: dict[str, Any]
    options: dict[str, Any]
    frac: Callable[[Prices, pd.DatetimeIndex], np.ndarray] | None
    mode: str = "replay"
    exchange: str = ""
    history: pd.DataFrame | None = None
    signals: Any = None
    play: pd.DataFrame | None = None
    poller: LivePoller | None = None
    replay_info: dict[str, Any] | None = None
    data_fingerprint: str | None = None


def _plan(strategy: str | Strategy, cfg: Any, *, symbol: str, timeframe: str, params: Mapping[str, Any] | None,
          options: dict[str, Any]) -> _Plan:
    """Resolve the strategy, its parameters and the simulator options exactly as ``run()`` does."""
    from peaktrade.backtest.engine import SIM_DEFAULTS, sim_params, size_fraction, resolve_params
    from peaktrade.data.schema import canonical_timeframe, parse_timeframe
    from peaktrade.strategies.registry import get_strategy

    timeframe = canonical_timeframe(timeframe)
    strat = get_strategy(strategy)
    unknown = sorted(k for k in options if k not in SIM_DEFAULTS or k in SIM_PARAMS)
    if unknown:
        raise SessionError(f"unknown option(s) {', '.join(unknown)}: expected some of "
                           f"{', '.join(k for k in SIM_DEFAULTS if k not in SIM_PARAMS)} "
                           f"(strategy parameters and stops go in params)")
    opts = {**{k: getattr(cfg.backtest, k) for k in _CONFIG_OPTIONS}, **options}
    o = {**SIM_DEFAULTS, **opts}
    resolved, stops = resolve_params(strat, dict(params or {}))
    sp = sim_params(**opts, **stops)  # validates every option exactly as run() does

    def vol_frac(prices: Prices, index: pd.DatetimeIndex) -> np.ndarray:
        return size_fraction(prices, index, sp, o["vol_window"])

    return _Plan(strat, symbol, timeframe, parse_timeframe(timeframe), resolved, stops, o,
                 vol_frac if o["size_type"] == "vol_target" else None)


def _plan_replay(plan: _Plan, cfg: Any, *, exchange: str | None, replay: Any, bars: pd.DataFrame | None,
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
    plan.mode, plan.exchange, plan.play, plan.history = "replay", exchange, play, warm
    plan.data_fingerprint = fingerprint(play)
    plan.replay_info = {"start": play.index[0], "end": play.index[-1] + plan.step, "bars": len(play),
                        "requested": [lo, hi], "speed": float(speed)}
    plan.signals = _ReplaySignals(plan.strategy, plan.resolved, pd.concat([warm, play]) if len(warm) else play,
                                  len(warm), plan.frac)


def _plan_live(plan: _Plan, cfg: Any, *, exchange: str | None, client: Any, warmup: int, poll_interval: float,
               max_history: int) -> None:
    """Connect the data source and load the warm-up history (a venue error is one line, before any file)."""
    exchange = exchange or cfg.data.exchange
    if client is None:
        if exchange.lower() == "synthetic":
            raise SessionError("exchange='synthetic' is offline demo data: live sessions poll a ccxt exchange "
                               "such as 'kraken' (replay synthetic bars with replay=...)")
        from peaktrade.adapters.kraken import public_client

        client = public_client(exchange)
    poller = LivePoller(client, plan.symbol, plan.timeframe, poll_interval=poll_interval, limit=max(warmup, 2) + 2)
    try:
        history = poller.warmup(warmup)
    except PeakTradeError:
        raise
    except Exception as e:  # noqa: BLE001 — venue errors are reported in one line
        from peaktrade.adapters.kraken import describe_error

        raise SessionError(f"cannot fetch {plan.symbol} {plan.timeframe} bars from {exchange}: "
                           f"{describe_error(e)}") from e
    plan.mode, plan.exchange, plan.poller, plan.history = "live", exchange, poller, history
    plan.signals = RollingSignalStepper(plan.strategy, plan.resolved, history=history, max_history=max_history,
                                        frac=plan.frac)


def _pipeline(plan: _Plan, checks: list[OrderCheck]) -> ExecutionPipeline:
    """Assemble the execution pipeline exactly as :func:`~peaktrade.live.paper_replay` does."""
    o, stops = plan.options, plan.stops
    ctx = PaperMarketContext(plan.symbol)
    executor = PaperExecutor(ctx, fees=float(o["fees"]), fixed_fees=float(o["fixed_fees"]),
                             slippage=float(o["slippage"]))
    return ExecutionPipeline(
        symbol=plan.symbol, executor=executor, ledger=Ledger(float(o["init_cash"])), context=ctx, checks=checks,
        execution=o["execution"], direction=o["direction"],
        sizing=SizingModel(float(o["size"]), o["size_type"], float(o["fees"]), float(o["fixed_fees"]),
                           float(o["slippage"])),
        stops=StopRules(stops.get("sl_stop"), stops.get("tp_stop"), stops.get("sl_trail"), o["stop_priority"]),
        hooks=Hooks(),
    )


def _meta(plan: _Plan, cfg: Any, *, environment: str, checks: list[OrderCheck], live: bool, poll_interval: float,
          max_history: int, warmup: int, max_bars: int | None) -> dict[str, Any]:
    from peaktrade import __version__
    from peaktrade.backtest.engine import SIM_DEFAULTS

    h = plan.history if plan.history is not None else pd.DataFrame()
    return {
        "environment": environment,
        "mode": plan.mode,
        "strategy": plan.strategy.name,
        "params": {**plan.resolved, **plan.stops},
        "options": {k: plan.options[k] for k in SIM_DEFAULTS if k not in SIM_PARAMS},
        "symbol": plan.symbol,
        "timeframe": plan.timeframe,
        "exchange": plan.exchange,
        "executor": "paper",
        "checks": [_check_name(c) for c in checks],
        "replay": plan.replay_info,
        "live": {"poll_interval": float(poll_interval), "max_history": max_history} if live else None,
        "warmup": {"requested": warmup, "bars": len(h), "first": h.index[0] if len(h) else None,
                   "last": h.index[-1] if len(h) else None},
        "max_bars": max_bars,
        "data_fingerprint": plan.data_fingerprint,
        "config_hash": cfg.config_hash(),
        "config_source": cfg.source,
        "config": cfg.sanitized(),
        # the code that trades is the package's: ask its checkout, not the config's project root
        "code_version": git_sha(Path(__file__).resolve().parent),
        "peaktrade_version": __version__,
        "events_file": "events.jsonl",
        "batch": "bar",
    }


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

    def __enter__(self) -> "_StopOnSignals":
        if self.enabled:  # before the run directory exists: a stop request is never lost in between
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


class _Recorder:
    """Feeds bars to the signals and the pipeline and writes what happens to the run log (one batch per bar)."""

    def __init__(self, log: RunLog, pipe: ExecutionPipeline, plan: _Plan,
                 on_event: Callable[[dict[str, Any]], None] | None) -> None:
        self.log, self.pipe, self.plan, self.on_event = log, pipe, plan, on_event
        self.counts = {"orders": 0, "fills": 0, "denials": 0}
        self.times: list[pd.Timestamp] = []
        self.values: list[float] = []
        self.close_time: pd.Timestamp | None = None
        self.last_position = pipe.ledger.position(plan.symbol)
        h = pipe.hooks
        h.before_order.append(self._order)
        h.after_fill.append(self._fill)
        h.on_denial.append(self._denial)
        h.on_bar.append(self._equity)

    @property
    def n_bars(self) -> int:
        return len(self.times)

    def emit(self, type_: str, when: Any, payload: Mapping[str, Any]) -> None:
        ev = self.log.event(type_, when, payload)
        if self.on_event is not None:
            self.on_event(ev)

    def bar(self, ts: pd.Timestamp, o: float, h: float, lo: float, c: float, v: float) -> None:
        """Process one completed bar and write its batch."""
        self.close_time = close_time = ts + self.plan.step
        self.emit("bar", ts, {"open": o, "high": h, "low": lo, "close": c, "volume": v})
        e, x, f = self.plan.signals.push(ts, o, h, lo, c, v)
        if e or x:
            self.emit("signal", close_time, {"entry": e, "exit": x})
        equity = self.pipe.on_bar(ts, close_time, o, h, lo, c, v, e, x, frac=f)
        self.times.append(ts)
        self.values.append(equity)
        self.drain_skipped()
        self.log.flush()

    def data_error(self, e: BaseException, wait: float) -> None:
        from peaktrade.adapters.kraken import describe_error

        self.emit("session", None, {"event": "data_error", "error": describe_error(e), "retry_in": wait})
        self.log.flush()

    def drain_skipped(self) -> None:
        poller = self.plan.poller
        while poller is not None and poller.skipped:
            ts_ms, reason = poller.skipped.pop(0)
            self.emit("session", pd.Timestamp(ts_ms * 1_000_000, tz="UTC"), {"event": "bad_candle", "reason": reason})

    def _order(self, req: OrderRequest) -> None:
        ctx = self.pipe.context
        self.counts["orders"] += 1
        self.emit("order", ctx.time, {"client_order_id": req.client_order_id, "symbol": req.symbol,
                                      "side": req.side, "quantity": req.quantity, "type": req.type,
                                      "limit_price": req.limit_price, "reduce_only": req.reduce_only,
                                      "tag": req.tag, "price": ctx.price})

    def _fill(self, f: OrderFill) -> None:
        self.counts["fills"] += 1
        self.emit("fill", f.timestamp, {"client_order_id": f.client_order_id, "symbol": f.symbol, "side": f.side,
                                        "quantity": f.quantity, "price": f.price, "fee": f.fee, "tag": f.tag})

    def _denial(self, req: OrderRequest, d: Decision) -> None:
        self.counts["denials"] += 1
        self.emit("denial", self.pipe.context.time, {"client_order_id": req.client_order_id, "side": req.side,
                                                     "quantity": req.quantity, "tag": req.tag, "gate": d.gate,
                                                     "reason": d.reason})

    def _equity(self, ev: dict[str, Any]) -> None:
        self.emit("equity", self.close_time, {"equity": ev["equity"], "cash": ev["cash"], "position": ev["position"]})
        q = ev["position"]
        if q != self.last_position:
            self.last_position = q
            p = self.pipe.ledger.positions.get(self.plan.symbol)
            self.emit("position", self.close_time, {"symbol": self.plan.symbol, "quantity": q,
                                                    "avg_price": p.avg_price if p is not None and q else None})

    def equity(self) -> pd.Series:
        return pd.Series(self.values, index=pd.DatetimeIndex(self.times, name="time"), name="equity", dtype=float)

    def close(self, status: str, error: str | None) -> dict[str, Any]:
        """Write the end event, events.parquet, trades.parquet and the final meta; return the summary."""
        ledger, ctx = self.pipe.ledger, self.pipe.context
        summary = _summary(ledger, self.plan.symbol, self.times, self.values, self.counts,
                           None if math.isnan(ctx.bar_close) else float(ctx.bar_close), self.plan.step)
        try:
            self.emit("session", None, {"event": "end", "status": status, **({"error": error} if error else {}),
                                        "final_equity": summary["final_equity"], "n_trades": summary["n_trades"]})
        except Exception:  # noqa: BLE001 — never mask the original error while closing the log
            pass
        self.log.close(status, summary, error=error, trades=ledger.trades_frame())
        return summary


def _summary(ledger: Ledger, symbol: str, times: list[pd.Timestamp], equity: list[float], counts: dict[str, int],
             last_close: float | None, step: pd.Timedelta) -> dict[str, Any]:
    final = equity[-1] if equity else ledger.cash
    trades = [{"entry_time": t.entry_time, "exit_time": t.exit_time, "direction": t.direction,
               "entry_price": t.entry_price, "exit_price": t.exit_price, "size": t.size, "pnl": t.pnl,
               "ret": t.ret, "exit_reason": t.exit_reason} for t in ledger.trades[-META_TRADES:]]
    pos = ledger.positions.get(symbol)
    return {
        "bars": len(times),
        "first_bar": times[0] if times else None,
        "last_bar": times[-1] if times else None,
        "last_close_time": times[-1] + step if times else None,
        "initial_cash": ledger.initial_cash,
        "final_equity": float(final),
        "total_return": float(final) / ledger.initial_cash - 1.0,
        "cash": ledger.cash,
        "position": ledger.position(symbol),
        "position_avg_price": pos.avg_price if pos is not None and pos.quantity else None,
        "last_close": last_close,
        "realized_pnl": ledger.realized_pnl,
        "fees_paid": ledger.fees_paid,
        "n_trades": len(ledger.trades),
        "n_orders": counts["orders"],
        "n_fills": counts["fills"],
        "n_denials": counts["denials"],
        "trades": trades,
        "trades_file": "trades.parquet",
    }
