"""Live sessions: ``peaktrade live run``, real orders at the live venue behind every gate and a ramp.

A live session is the testnet session with real money: the same run loop (:func:`peaktrade.live.session.run_bars`),
plan, poller, recorder, session lock, orphan reconcile and dead-man switch, and an
:class:`~peaktrade.orders.exchange.ExchangeExecutor` whose client places real orders. Before anything is built:

1. The four live gates (:func:`peaktrade.safety.assert_live_allowed`). Gate 4, readiness, runs the full
   ``peaktrade live readiness`` check list as its probe (:func:`readiness_probe`, registered only for the
   evaluation; a probe registered by anyone else is set aside): a single failed check closes it. Gates 1–3 are
   decided without contacting the venue; readiness only reads (a :class:`~peaktrade.safety.ReadOnlyGuard`
   client). An authorization is never taken from the caller: :func:`run_live_session` asks for it itself.
2. The ramp (``[live.ramp]``): for the first ``days`` days after the account's first live session (recorded in
   ``<state_dir>/live-ramp.json``), every order's notional and the position it leaves, at the executable price,
   are capped at ``max_notional``; exposure-reducing orders always pass. A session started inside the ramp
   keeps the cap to its end. An order notional above the cap refuses the start; an unreadable ramp record
   refuses it too (fail closed).

Every order then passes the live checks (SafetyGuard, RiskLimits, the ramp) in the pipeline, and the guard again
at the wire (authorization, dead-man switch armed, kill switch, price collar).

Tests stand the simulator in for the venue with :func:`peaktrade.live.readiness.simulator_stand_in` (code only,
loopback only, simulator credentials): then the trading client reaches that host and no other.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade._files import atomic_write_json
from peaktrade.errors import PeakTradeError, bad_value
from peaktrade.execution.assembly import build_pipeline
from peaktrade.execution.pipeline import Decision
from peaktrade.live.plan import plan_polling, plan_session
from peaktrade.live.readiness import ReadinessReport, clock_skew, live_readiness, stand_in_venue, venue_client
from peaktrade.live.recorder import session_meta
from peaktrade.live.resume import RunState, check_same_plan
from peaktrade.live.runlog import RunLog, new_run_id
from peaktrade.live.session import run_bars
from peaktrade.live.testnet import catch_up_bars, exchange_loop, reopen_run, start_reconcile  # testnet's, shared
from peaktrade.orders.exchange import ExchangeExecutor
from peaktrade.safety import (
    DeadManSwitch,
    DecisionLog,
    LiveGateClosed,
    ProbeResult,
    SafetyGuard,
    SessionLock,
    TradingEnvironment,
    assert_live_allowed,
    build_checks,
    register_readiness_probe,
)
from peaktrade.safety._guard import endpoint_host
from peaktrade.safety._limits import account_id
from peaktrade.safety._orders import fmt_money, is_reducing, order_subject, post_position
from peaktrade.strategies.stepping import DEFAULT_MAX_HISTORY

if TYPE_CHECKING:
    from peaktrade.config import Config
    from peaktrade.execution.ledger import Ledger
    from peaktrade.orders.model import OrderRequest

#: Where the start of each account's ramp is recorded (in ``[safety] state_dir``).
RAMP_FILE = "live-ramp.json"
_EPS = 1e-9


class LiveRunError(PeakTradeError):
    """A live session cannot start or go on (the message says why)."""


# -- the ramp ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RampStatus:
    """Where an account is on its ramp: ``day`` 0 is the day of its first live session (None: none yet)."""

    days: int
    max_notional: float
    started: str | None
    day: int

    @property
    def active(self) -> bool:
        return self.days > 0 and self.day < self.days

    def describe(self) -> str:
        if self.days == 0:
            return "no ramp ([live.ramp] days = 0)"
        if not self.active:
            return f"ramp over (day {self.day + 1}; it lasted {self.days} days from {self.started})"
        since = f"started {self.started}" if self.started else "starts with this session"
        return f"ramp day {self.day + 1} of {self.days} ({since}): orders and positions ≤ {fmt_money(self.max_notional)}"


def _ramp_path(config: Config) -> Path:
    return Path(config.state_dir) / RAMP_FILE


def _read_ramp(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ValueError("expected an object of account → ISO start time")
    except (OSError, ValueError) as e:
        raise LiveRunError(f"the live ramp record {path} is unreadable ({type(e).__name__}: {e}): refusing to "
                           "start (fail closed); restore it, or delete it to start the ramp again at day 1") from None
    return data


def ramp_status(config: Config, *, now: datetime | None = None) -> RampStatus:
    """Return ``config``'s account's place on the ``[live.ramp]`` (raise :class:`LiveRunError` when unreadable)."""
    ramp = config.live.ramp
    now = now or datetime.now(UTC)
    path = _ramp_path(config)
    started = _read_ramp(path).get(account_id(config, TradingEnvironment.LIVE))
    day = 0
    if started is not None:
        try:
            t0 = datetime.fromisoformat(started)
            if t0.tzinfo is None:
                raise ValueError("no time zone")
        except ValueError as e:
            raise LiveRunError(f"the live ramp record {path} holds an invalid start {started!r} ({e}): refusing to "
                               "start (fail closed)") from None
        if t0 > now + timedelta(minutes=5):
            raise LiveRunError(f"the live ramp record {path} starts in the future ({started}): refusing to start "
                               "(fail closed)")
        day = max(0, (now - t0) // timedelta(days=1))
    return RampStatus(int(ramp.days), float(ramp.max_notional), started, int(day))


def start_ramp(config: Config, *, now: datetime | None = None) -> RampStatus:
    """Record the account's first live session as the start of its ramp (kept when already recorded)."""
    path = _ramp_path(config)
    data = _read_ramp(path)
    key = account_id(config, TradingEnvironment.LIVE)
    if key not in data:
        data[key] = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, data)
    return ramp_status(config, now=now)


class RampCheck:
    """The ramp as a pre-trade check (the pipeline's ``OrderCheck``): caps order and position notional."""

    name = "LiveRamp"

    def __init__(self, status: RampStatus, *, log: DecisionLog | None = None) -> None:
        self.status = status
        self.log = log

    def check(self, request: OrderRequest, *, ledger: Ledger, price: float, now: pd.Timestamp) -> Decision:
        """Allow reducing orders and, inside the ramp, orders whose notional and post-order position fit the cap."""
        st, position = self.status, None
        try:
            position = ledger.position(request.symbol)
            cap = st.max_notional
            if not st.active:
                d = Decision(True, self.name, st.describe())
            elif is_reducing(request, position):
                d = Decision(True, self.name, f"{st.describe()}; reducing order")
            elif not (isinstance(price, (int, float)) and math.isfinite(price) and price > 0):
                d = Decision(False, "ramp", f"ramp: no executable price ({price!r}) to size the order against "
                                            f"the ramp cap {fmt_money(cap)} (fail closed)")
            else:
                order = request.quantity * price
                post = abs(post_position(request, position)) * price
                if order > cap * (1 + _EPS) or post > cap * (1 + _EPS):
                    d = Decision(False, "ramp", f"ramp: order {fmt_money(order)}, position after it "
                                                f"{fmt_money(post)} > cap {fmt_money(cap)} ({st.describe()})")
                else:
                    d = Decision(True, self.name, f"order {fmt_money(order)}, position {fmt_money(post)} within "
                                                  f"{st.describe()}")
        except Exception as e:  # noqa: BLE001 — a check that cannot decide denies
            d = Decision(False, "ramp", f"ramp: check failed: {type(e).__name__}: {e}")
        if self.log is not None:
            ok = self.log.record(component=self.name, kind="order", allowed=d.allowed, gate=d.gate, reason=d.reason,
                                 environment="live", market_time=now, subject=order_subject(request, position))
            if d.allowed and not ok:
                d = self.log.deny_last(f"audit: {self.log.error}: an order that cannot be recorded is denied")
        return d


# -- gate 4: the readiness check list as the probe ----------------------------------------------------------
def readiness_probe(*, strategy: str, symbol: str, timeframe: str, reports: list[ReadinessReport] | None = None,
                    resuming: Any = None) -> Callable[[Any], ProbeResult]:
    """Return a readiness probe that runs every ``peaktrade live readiness`` check (appending the report to
    ``reports``) and measures what the gate judges: venue reachable, clock skew, balances."""

    def probe(config: Any) -> ProbeResult:
        client, where = venue_client(config)
        report = live_readiness(config, strategy=strategy, symbol=symbol, timeframe=timeframe, client=client,
                                resuming=resuming)
        report.venue = where
        if reports is not None:
            reports.append(report)
        st = {c.name: c.status for c in report.checks}
        reachable = st.get("venue") == "pass"
        skew = clock_skew(client) if reachable else None
        balances = dict(client.fetch_balance().total) if st.get("account") == "pass" else None
        return ProbeResult(reachable=reachable, clock_skew_seconds=skew, balances=balances, detail=where,
                           checks=tuple((c.name, c.status, c.reason) for c in report.checks), venue=client.base_url)

    return probe


def authorize(config: Config, *, confirm: str | None, strategy: str, symbol: str, timeframe: str,
              log: DecisionLog | None = None, resuming: Any = None) -> tuple[Any, ReadinessReport]:
    """Evaluate the four live gates with the readiness check list as gate 4; return ``(authorization, report)``.
    ``resuming``: the run being resumed (see :func:`~peaktrade.live.readiness.live_readiness`).

    Raises :class:`~peaktrade.safety.LiveGateClosed` naming the first closed gate.
    """
    reports: list[ReadinessReport] = []
    old = register_readiness_probe(readiness_probe(strategy=strategy, symbol=symbol, timeframe=timeframe,
                                                   reports=reports, resuming=resuming))
    try:
        auth = assert_live_allowed(config, confirm=confirm, log=log)
    finally:
        register_readiness_probe(old)
    if len(reports) != 1 or not reports[0].passed or auth.full is not True:  # never trade on less than the list
        raise LiveGateClosed("readiness", "the live readiness check list did not run or did not pass")
    return auth, reports[0]


# -- the trading client ------------------------------------------------------------------------------------
class _StandInGuard(SafetyGuard):
    """The live guard of a session whose venue is the test stand-in: that loopback host is the only one reachable."""

    stand_in_host: str = ""

    def _endpoint(self, url: str, private: bool, validate_only: bool) -> Decision:
        from peaktrade.adapters.hosts import is_loopback_host

        parsed = endpoint_host(url)
        if parsed is None or parsed[1] != self.stand_in_host or not is_loopback_host(self.stand_in_host):
            return Decision(False, "live_endpoint", f"live_endpoint: {url!r} is not the simulator stand-in "
                                                    f"{self.stand_in_host} (the only host of this test session)")
        refused = self._venue_refusal(parsed[1])
        if refused is not None:
            return refused
        if private and not self._live_authorized():
            return Decision(False, "live_authorization",
                            "live_authorization: this session holds no valid live authorization")
        return Decision(True, "live_endpoint", f"simulator stand-in {self.stand_in_host}")


def live_client(config: Config, guard: SafetyGuard, *, auth: Any) -> tuple[Any, SafetyGuard, str]:
    """Return ``(client, guard, where)``: the order-placing client of the venue ``auth``'s readiness judged: the live
    venue, or the test stand-in (still standing in, at that host). Any other venue is refused (fail closed)."""
    from peaktrade.adapters.hosts import is_loopback_host, url_host
    from peaktrade.adapters.kraken import KrakenClient
    from peaktrade.safety import authorization_venue

    venue = authorization_venue(auth)
    if venue is None:
        raise LiveRunError("the live authorization names no venue readiness judged: refusing (fail closed)")
    stand = stand_in_venue()
    if not is_loopback_host(venue):
        client = KrakenClient(guard=guard, api_key=config.secrets.kraken_api_key,
                              api_secret=config.secrets.kraken_api_secret)
        if url_host(client.base_url) != venue:
            raise LiveRunError(f"the live venue {client.base_url} is not {venue}, the venue readiness judged")
        return client, guard, f"live venue {client.base_url}"
    host = url_host(stand.url) if stand is not None else None
    if stand is None or host != venue:
        raise LiveRunError(f"readiness judged the stand-in {venue}, which no longer stands in for the venue: "
                           "refusing (fail closed)")
    if not is_loopback_host(host):  # simulator_stand_in checked it; checked again where it matters
        raise LiveRunError(f"the stand-in {stand.url} is not loopback: refusing (fail closed)")
    g = _StandInGuard.from_config("live", config, executor_kind="exchange", kill_switch=guard.kill_switch,
                                  log=guard.log, authorization=auth)
    g.stand_in_host = host or ""
    g.live_hosts = frozenset({g.stand_in_host})
    client = KrakenClient(guard=g, base_url=stand.url, api_key=stand.api_key, api_secret=stand.api_secret,
                          simulator=True, rate_limit=False)
    return client, g, f"simulator stand-in {stand.url} (test only)"


# -- the degrade ladder: cancel all --------------------------------------------------------------------------
#: Private methods that only take orders away: an incident needs them without any authorization.
_CANCEL_METHODS = frozenset({"CancelAll", "CancelOrder", "CancelOrderBatch"})


def _cancel_only_guard(config: Config, stand_in_host: str | None) -> SafetyGuard:
    from urllib.parse import urlsplit

    from peaktrade.safety import ReadOnlyGuard

    class CancelOnlyGuard(ReadOnlyGuard):
        """The read-only guard of ``live readiness`` that also lets cancels through (never an order)."""

        name = "CancelOnlyGuard"

        def _endpoint(self, url: str, private: bool, validate_only: bool) -> Decision:
            d = super()._endpoint(url, private, validate_only)
            method = urlsplit(str(url)).path.rstrip("/").rsplit("/", 1)[-1]
            if not d.allowed and d.gate == "read_only" and method in _CANCEL_METHODS:  # host and TLS passed
                return Decision(True, "cancel_only", f"cancel-only {method}")
            return d

    return CancelOnlyGuard(config, stand_in_host=stand_in_host)


def cancel_all(config: Config, *, environment: str) -> tuple[int, str]:
    """Cancel every open order of the account at the ``live`` venue or the ``testnet`` simulator; return
    ``(count, where)``. Needs no live authorization: cancels only take orders away (every kill-switch state)."""
    from peaktrade.adapters.hosts import url_host
    from peaktrade.adapters.kraken import KrakenClient

    if environment == "testnet":
        from peaktrade.live.testnet import build_client, testnet_guard

        _checks, guard = testnet_guard(config)
        client = build_client(config, guard=guard, mode="kraken-sim")
        where = f"testnet simulator {client.base_url}"
    elif environment == "live":
        stand = stand_in_venue()
        if stand is None:
            client = KrakenClient(guard=_cancel_only_guard(config, None), api_key=config.secrets.kraken_api_key,
                                  api_secret=config.secrets.kraken_api_secret)
            where = f"live venue {client.base_url}"
        else:
            client = KrakenClient(guard=_cancel_only_guard(config, url_host(stand.url)), base_url=stand.url,
                                  api_key=stand.api_key, api_secret=stand.api_secret, simulator=True,
                                  rate_limit=False)
            where = f"simulator stand-in {stand.url} (test only)"
    else:
        raise LiveRunError(bad_value("environment", environment, "live or testnet"))
    return client.cancel_all_orders(), where


# -- the degrade ladder: flatten -----------------------------------------------------------------------------
#: Quote currencies preferred, in order, when flatten picks the market of a held asset by itself.
_FLATTEN_QUOTES = ("USD", "EUR", "USDT", "USDC")


def _venue_probe(config: Any) -> ProbeResult:
    """Flatten's readiness probe: venue reachable, clock skew and balances, read-only. Not the session check
    list: an open position is what flatten is for, and no strategy runs."""
    client, where = venue_client(config)
    try:
        skew = clock_skew(client)
    except Exception as e:  # noqa: BLE001 — unreachable: the gate says why
        return ProbeResult(reachable=False, detail=f"{where}: {type(e).__name__}: {e}")
    return ProbeResult(reachable=True, clock_skew_seconds=skew, balances=dict(client.fetch_balance().total),
                       detail=where, venue=client.base_url)


def flatten_client(config: Config, *, environment: str, confirm: str | None = None) -> tuple[Any, list[Any], str]:
    """Return ``(client, checks, where)``: an order-placing client of the ``live`` venue (the four live gates, readiness
    = venue reachable, clock skew, balances; the kill switch may be engaged) or the ``testnet`` simulator, whose
    SafetyGuard (``checks[0]``) is reduce-only: it passes, in the pipeline and at the wire, only orders that provably
    reduce a position without flipping it (live: the authorization itself is reduce-only)."""
    if environment == "testnet":
        from peaktrade.live.testnet import build_client, testnet_guard

        checks, guard = testnet_guard(config)
        guard.restrict_to_reducing()
        client = build_client(config, guard=guard, mode="kraken-sim")
        return client, [guard, *(c for c in checks if c is not guard)], f"testnet simulator {client.base_url}"
    if environment != "live":
        raise LiveRunError(bad_value("environment", environment, "live or testnet"))
    log = DecisionLog.from_config(config)
    old = register_readiness_probe(_venue_probe)
    try:
        auth = assert_live_allowed(config, confirm=confirm, log=log, reduce_only=True)
    finally:
        register_readiness_probe(old)
    guard, limits = build_checks("live", config=config, executor_kind="exchange", authorization=auth)
    client, guard, where = live_client(config, guard, auth=auth)
    guard.restrict_to_reducing()  # also implied by the reduce-only authorization it holds
    return client, [guard, limits], where


def _flatten_markets(markets: Mapping[str, Any], total: Mapping[str, float], symbols: Iterable[str]) -> list[Any]:
    """Return the markets to flatten: ``symbols`` (each must be listed), else one market per held asset (its
    balance above the market's minimum order), quoted in the first of ``_FLATTEN_QUOTES`` listed for it."""
    symbols = list(dict.fromkeys(symbols))
    if symbols:
        unknown = [s for s in symbols if s not in markets]
        if unknown:
            raise LiveRunError(bad_value("--symbol", unknown[0], f"a market the venue lists ({len(markets)} listed)"))
        return [markets[s] for s in symbols]
    quotes = {m.quote for m in markets.values()}
    by_base: dict[str, list[Any]] = {}
    for m in markets.values():
        held = float(total.get(m.base, 0.0) or 0.0)
        if m.base not in quotes and abs(held) > float(m.amount_min or 0.0):
            by_base.setdefault(m.base, []).append(m)

    def rank(m: Any) -> tuple[int, str]:
        return (_FLATTEN_QUOTES.index(m.quote) if m.quote in _FLATTEN_QUOTES else len(_FLATTEN_QUOTES), m.symbol)

    return [min(ms, key=rank) for _, ms in sorted(by_base.items())]


@dataclass(frozen=True)
class FlattenResult:
    """What :func:`flatten` did: resting orders cancelled, and per market the position before and after."""

    where: str
    cancelled: int
    markets: list[dict[str, Any]]


def flatten(config: Config, *, environment: str, symbols: Iterable[str] = (), confirm: str | None = None,
            fill_wait: float = 5.0) -> FlattenResult:
    """Close the account's positions at the ``live`` venue or the ``testnet`` simulator (the degrade ladder's last
    step): cancel resting orders (of ``symbols``; all when none given), then per market one reduce-only market order
    of the whole venue balance of its base, through the pipeline with the live checks and a reduce-only guard.

    Positions are the venue's balances, read after the cancels (spot: a position is the base asset held). A balance
    at or below the market's minimum order is dust and left. Raises
    :class:`~peaktrade.safety.LiveGateClosed` (live: a gate is closed; nothing sent) and :class:`LiveRunError`.
    """
    from peaktrade.backtest.options import BacktestOptions
    from peaktrade.execution.ledger import Position
    from peaktrade.orders.model import OrderRequest

    symbols = list(symbols)
    client, checks, where = flatten_client(config, environment=environment, confirm=confirm)
    markets = client.load_markets()
    _flatten_markets(markets, {}, symbols)  # unknown symbols refused before anything is cancelled
    if symbols:
        cancelled = 0
        for sym in dict.fromkeys(symbols):
            for o in client.fetch_open_orders(sym):
                client.cancel_order(order_id=o.id, symbol=sym)
                cancelled += 1
    else:
        cancelled = client.cancel_all_orders()
    bal = client.fetch_balance()
    out: list[dict[str, Any]] = []
    for m in _flatten_markets(markets, bal.total, symbols):
        held = float(bal.total.get(m.base, 0.0) or 0.0)
        row: dict[str, Any] = {"symbol": m.symbol, "position": held}
        if abs(held) <= float(m.amount_min or 0.0):
            out.append({**row, "status": "flat", "after": held})
            continue
        t = client.fetch_ticker(m.symbol)
        mid = t.mid if t.bid and t.ask else (t.last or float("nan"))
        opts = BacktestOptions.parse(init_cash=float(bal.total.get(m.quote, 0.0) or 0.0))
        pipe = build_pipeline(m.symbol, opts, checks=checks, executor=lambda ctx: ExchangeExecutor(
            client, ctx, fill_wait=fill_wait))
        pipe.ledger.positions[m.symbol] = Position(m.symbol, quantity=held, avg_price=float(mid))
        now = pd.Timestamp.now(tz="UTC")
        pipe.context.price, pipe.context.time = float(mid), now
        req = OrderRequest(m.symbol, "sell" if held > 0 else "buy", abs(held), reduce_only=True, tag="flatten")
        res = pipe.submit(req, price=float(mid), now=now)
        after = float(client.fetch_balance().total.get(m.base, 0.0) or 0.0)
        if res is None:
            out.append({**row, "status": "denied", "reason": pipe.denials[-1][1].reason, "after": after})
        else:
            out.append({**row, "status": str(res.status.value if hasattr(res.status, "value") else res.status),
                        "filled": sum(f.quantity for f in res.fills), "reason": res.reason, "after": after})
    return FlattenResult(where, cancelled, out)


# -- the session ---------------------------------------------------------------------------------------------
@dataclass
class LiveResult:
    """The outcome of :func:`run_live_session`."""

    run_id: str
    run_dir: Path
    status: str
    venue: str
    summary: dict[str, Any]
    ramp: dict[str, Any]
    readiness: list[dict[str, str]]
    ledger: Any = None


def _positive(name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not value > 0:
        raise LiveRunError(bad_value(name, value, "a finite number > 0"))


def run_live_session(strategy: str, *, symbol: str, timeframe: str, confirm: str | None, order_notional: float,
                     config: Config | None = None, params: Mapping[str, Any] | None = None,
                     duration: float | None = None, max_bars: int | None = None, warmup: int = 100,
                     catch_up: int = 0, poll_interval: float = 5.0, run_id: str | None = None, stop: threading.Event | None = None,
                     handle_signals: bool = True, on_event: Callable[[dict[str, Any]], None] | None = None,
                     sleep: Callable[[float], None] | None = None, resume: RunState | None = None) -> LiveResult:
    """Trade ``strategy`` on ``symbol`` ``timeframe`` with real orders at the live venue (see the module docstring).

    Parameters
    ----------
    strategy, symbol, timeframe, params
        What to trade, as ``peaktrade paper run``.
    confirm
        ``LIVE-<hash8>`` of this config (gate 3; ``peaktrade live gates`` prints it).
    order_notional
        Quote currency per entry order (the plan sizes ``size_type="value"``); at most the ramp cap while the
        ramp lasts.
    duration, max_bars
        End after this many seconds / traded bars (None: until stopped).
    warmup, catch_up, poll_interval, run_id, stop, handle_signals, on_event, sleep
        As in :func:`peaktrade.live.testnet.run_testnet_session` (``catch_up``: trade the last completed bars
        right away, at the venue's prices now).
    resume
        A crashed or stopped live run to continue (:func:`peaktrade.live.resume.resume_run`), as in
        :func:`~peaktrade.live.testnet.run_testnet_session`. A resume is a start: every gate, readiness and the
        ramp again, before anything reaches the venue.

    Raises
    ------
    LiveGateClosed
        A live gate is closed (nothing was sent to the venue; gates 1–3 contact it not at all).
    LiveRunError
        Bad input, an order notional above the ramp cap, an unreadable ramp record, or a venue that cannot be
        traded safely (no dead-man switch, no quote balance, orders it holds that are not ours).
    """
    if config is None:
        from peaktrade.config import load_config

        config = load_config()
    cfg = config
    # -- bad input and the ramp: decided before any gate, nothing contacted --------------------------------
    _positive("order_notional", order_notional)
    _positive("duration", duration, optional=True)
    _positive("poll_interval", poll_interval)
    if max_bars is not None and (isinstance(max_bars, bool) or not isinstance(max_bars, int) or max_bars < 1):
        raise LiveRunError(bad_value("max_bars", max_bars, "an integer >= 1"))
    draft = plan_session(strategy, cfg, symbol=symbol, timeframe=timeframe, params=params,
                         options={"init_cash": float(order_notional), "size_type": "value",
                                  "size": float(order_notional)})
    if resume is not None:
        check_same_plan(resume, draft)
    ramp = ramp_status(cfg)
    if ramp.active and order_notional > ramp.max_notional * (1 + _EPS):
        raise LiveRunError(f"order notional {fmt_money(order_notional)} exceeds the live ramp cap: {ramp.describe()} "
                           "(lower --notional, or wait for the ramp to end)")


    # -- the four gates, readiness = the full check list -----------------------------------------------------
    log = DecisionLog.from_config(cfg)
    auth, report = authorize(cfg, confirm=confirm, strategy=strategy, symbol=symbol, timeframe=timeframe, log=log,
                             resuming=resume)
    guard, limits = build_checks("live", config=cfg, executor_kind="exchange", authorization=auth)
    client, guard, where = live_client(cfg, guard, auth=auth)
    if not DeadManSwitch.supported(client):
        raise LiveRunError("the live venue has no dead-man switch: refusing to trade live (fail closed)")
    market = client.load_markets().get(symbol)
    if market is None:
        raise LiveRunError(f"the venue lists no market {symbol}")
    if resume is None:  # a new run's ledger starts from the venue's quote balance; a resumed run has its own
        cash = float(client.fetch_balance().total.get(market.quote, 0.0) or 0.0)
        if not cash > 0:
            raise LiveRunError(f"no {market.quote} balance at {where}: nothing to trade with")
    else:
        cash = resume.ledger.initial_cash
    plan = plan_session(strategy, cfg, symbol=symbol, timeframe=timeframe, params=params,
                        options={"init_cash": cash, "size_type": "value", "size": float(order_notional)})

    def load(n: int) -> Any:
        try:
            return plan_polling(plan, cfg, exchange="kraken", client=client, warmup=warmup,
                                poll_interval=poll_interval, max_history=DEFAULT_MAX_HISTORY, catch_up=n)
        except PeakTradeError as e:
            raise LiveRunError(f"cannot fetch {plan.symbol} {plan.timeframe} bars at {where}: {e}") from e

    catch, catch_up = catch_up_bars(load, plan, resume, catch_up)
    run_id = resume.run_id if resume is not None else (run_id or new_run_id("live", plan.strategy.name))
    costs = plan.options.costs
    ramp_check = RampCheck(ramp, log=guard.log)
    checks = [guard, limits, ramp_check]
    pipe = build_pipeline(plan.symbol, plan.options, checks=checks, executor=lambda ctx: ExchangeExecutor(
        client, ctx, fees=costs.fees, slippage=costs.slippage))
    executor: ExchangeExecutor = pipe.executor  # type: ignore[assignment]
    meta = session_meta(plan, cfg, environment="live", checks=checks, executor="exchange:live",
                        poll_interval=poll_interval, max_history=DEFAULT_MAX_HISTORY, warmup=warmup,
                        max_bars=max_bars)
    meta["live"] = {"venue": where, "order_notional": float(order_notional), "catch_up": catch_up,
                    "readiness": report.to_dict()}

    stop = stop if stop is not None else threading.Event()
    deadman = DeadManSwitch(client, timeout=cfg.safety.deadman_timeout, refresh=cfg.safety.deadman_refresh)
    sleep = deadman.sleeper(stop, sleep)
    guard.require_deadman(deadman)  # the wire denies every order while the switch is not confirmed armed
    feed, settle = exchange_loop(plan, catch, pipe, executor, guard, deadman, stop)

    def write_live_summary(log_: RunLog) -> None:
        log_.update_meta(live_summary={"venue_orders_sent": getattr(client, "sent_orders", None),
                                       "unsettled": executor.pending, "ramp": asdict(ramp_check.status)})

    with SessionLock.for_session(cfg, "live", strategy=plan.strategy.name, symbol=plan.symbol,
                                 run_id=run_id) as lock:
        recon, reconcile = start_reconcile(client, pipe, lock, resume)  # fail closed, before the first arm
        armed = deadman.arm()  # before any order
        ramp_check.status = start_ramp(cfg) if ramp.days else ramp  # the first live session starts the ramp
        start = {"venue": where, "ramp": ramp_check.status.describe(), **lock.start_fields(),
                 "deadman": {k: v for k, v in armed.items() if k != "event"}, "reconcile": reconcile}
        log_, on_start = reopen_run(resume, recon, pipe, start)
        run = run_bars(plan, pipe, meta, runs_dir=cfg.runs_dir, run_id=run_id, feed=feed, start=start,
                       max_bars=max_bars, run_seconds=duration, stop=stop, handle_signals=handle_signals,
                       on_event=on_event, sleep=sleep, finish=settle, on_close=write_live_summary, config=cfg,
                       log=log_, on_start=on_start)
    return LiveResult(run_id, run.run_dir, run.status, where, run.summary, asdict(ramp_check.status),
                      [c.__dict__ for c in report.checks], pipe.ledger)



__all__ = ["RAMP_FILE", "FlattenResult", "LiveResult", "LiveRunError", "RampCheck", "RampStatus", "authorize", "cancel_all", "flatten", "flatten_client", "live_client",
           "ramp_status", "readiness_probe", "run_live_session", "start_ramp"]
