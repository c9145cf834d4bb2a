"""Testnet sessions: run a ``[testnet.profiles.NAME]`` profile against Kraken validate-only endpoints or
the local simulator.

A testnet session is a polled session on the run loop of :mod:`peaktrade.live.session` (plan,
poller, signal stepping, recorder, run log) with two differences: orders go to an
:class:`~peaktrade.orders.exchange.ExchangeExecutor` backed by the Kraken adapter, and every order
passes the testnet checks — :func:`peaktrade.safety.build_checks` ``("testnet", executor_kind="exchange")``
then the :class:`~peaktrade.live.budget.BudgetCheck` — inside the execution pipeline.

Each run writes its run log under ``[runs] dir`` (environment ``testnet``). Logging it to MLflow is
the caller's (the trading layer never imports the research layer):
:func:`peaktrade.tracking.session_runs.log_testnet_run` does it for the CLI and the notebook.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade.errors import PeakTradeError, bad_value
from peaktrade.execution.assembly import build_pipeline
from peaktrade.live.budget import BudgetCheck, BudgetLimits, TestnetBudget
from peaktrade.live.feeds import Bar, Clock
from peaktrade.live.plan import SessionPlan, plan_polling, plan_session, safety_checks
from peaktrade.live.readiness import CheckResult, Skip, arm_dead_man_switch, clock_skew, run_check, send_test_alert
from peaktrade.live.recorder import Recorder, session_meta
from peaktrade.live.resume import (
    Reconciliation,
    ResumeError,
    RunState,
    check_same_plan,
    missed_bars,
    reconcile_run,
    venue_balances,
)
from peaktrade.live.runlog import RunLog, new_run_id
from peaktrade.live.session import run_bars
from peaktrade.orders.exchange import ExchangeExecutor
from peaktrade.orders.model import OrderExecutionResult, OrderRequest, OrderStatus
from peaktrade.safety import DeadManSwitch, SessionLock
from peaktrade.sim import sim_credentials
from peaktrade.strategies.stepping import DEFAULT_MAX_HISTORY

if TYPE_CHECKING:
    from peaktrade.config import Config

MODES = ("kraken-validate", "kraken-sim")
#: Where the scheduled testnet notebook is looked for (relative to the project root).
NOTEBOOK_PATHS = (Path("notebooks/60-testnet-session.ipynb"),)


class TestnetError(PeakTradeError):
    """A testnet run cannot start or go on (the message says why)."""

    __test__ = False


@dataclass
class TestnetResult:
    """The outcome of :func:`run_testnet_session` (``run_dir`` None for a dry run).

    ``testnet_summary`` is what the run log's meta holds under that key (budget used, orders the
    venue saw, unsettled orders); ``plan`` is the session plan (strategy, parameters, market).
    """

    __test__ = False

    run_id: str
    run_dir: Path | None
    status: str
    mode: str
    profile: str
    summary: dict[str, Any]
    budget: dict[str, Any]
    plan: SessionPlan | None = None
    testnet_summary: dict[str, Any] | None = None
    ledger: Any = None


def get_profile(config: Config, name: str) -> Any:
    """Return ``[testnet.profiles.<name>]``; raise :class:`TestnetError` listing the profiles when unknown."""
    profiles = config.testnet.profiles
    if name not in profiles:
        raise TestnetError(bad_value("profile", name, f"one of {', '.join(sorted(profiles)) or '(none configured)'}"))
    return profiles[name]


def budget_from_config(config: Config, profile: Any = None, *, clock: Callable[[], Any] | None = None) -> TestnetBudget:
    """Return the budget store of ``config`` with the limits of ``profile`` (or of ``[testnet]``)."""
    kw = {"clock": clock} if clock is not None else {}
    return TestnetBudget(config.budget_db_path, BudgetLimits.from_config(config, profile), **kw)


def resolve_mode(config: Config, mode: str | None) -> str:
    mode = mode or config.testnet.mode
    if mode not in MODES:
        raise TestnetError(bad_value("mode", mode, " or ".join(MODES)))
    return mode


def build_client(config: Config, *, guard: Any, mode: str | None = None, exchange: Any = None,
                 base_url: str | None = None, sleep: Callable[[float], None] | None = None,
                 validate_only: bool = False) -> Any:
    """Return the :class:`~peaktrade.adapters.kraken.KrakenClient` of a testnet ``mode``.

    ``kraken-validate``: Kraken's URL, validate-only (enforced by the adapter). ``kraken-sim``: the
    simulator's URL (``[testnet] sim_url`` or ``base_url``), without ccxt's rate limiter, placing
    orders unless ``validate_only``.
    """
    from peaktrade.adapters.kraken import KrakenClient

    mode = resolve_mode(config, mode)
    key, secret = config.secrets.kraken_api_key, config.secrets.kraken_api_secret
    kw: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    if mode == "kraken-validate":
        from peaktrade.adapters.hosts import live_venue_of, url_host

        if base_url is not None and live_venue_of(url_host(base_url)) is None:
            key = secret = None  # the live credentials (also from .env) go to the live venue only
        return KrakenClient(guard=guard, base_url=base_url, validate_only=True, api_key=key, api_secret=secret,
                            exchange=exchange, **kw)
    # never KRAKEN_API_*: whatever listens at sim_url must not get a request signed with the live secret
    sim_key, sim_secret = sim_credentials()
    url = base_url or config.testnet.sim_url
    return KrakenClient(guard=guard, base_url=url, validate_only=validate_only, api_key=sim_key,
                        api_secret=sim_secret, exchange=exchange, rate_limit=False, simulator=True,
                        sim_hosts=config.testnet.sim_hosts, **kw)


def _check_testnet_client(client: Any) -> None:
    """Refuse a client handed in unless its own guard is a testnet guard (a live client would trade live)
    with a price collar (the wire check is the guard's: a guard without a collar sends any price)."""
    guard = getattr(client, "guard", None)
    env = getattr(getattr(guard, "environment", None), "value", None)
    if env != "testnet":
        raise TestnetError(f"the client given to the testnet session is guarded for {env or 'no environment'}: "
                           "expected a client built with a testnet SafetyGuard (build_client)")
    if getattr(guard, "max_price_deviation", None) is None:
        raise TestnetError("the client given to the testnet session has a guard without a price collar "
                           "(max_price_deviation=None): expected a fraction in (0, 0.2] (build_client, testnet_guard)")


def testnet_guard(config: Config) -> tuple[list[Any], Any]:
    """Return ``(checks, guard)``: the testnet pre-trade checks and their SafetyGuard (fail closed)."""
    from peaktrade.safety import SafetyGuard

    checks = safety_checks("testnet", config, executor_kind="exchange")
    guard = next((c for c in checks if isinstance(c, SafetyGuard)), None)
    if guard is None:
        raise TestnetError("the testnet checks hold no SafetyGuard: refusing to start (fail closed)")
    return checks, guard


def run_testnet_session(
    profile: str,
    *,
    config: Config | None = None,
    mode: str | None = None,
    duration: float | None = None,
    dry_run: bool = False,
    client: Any = None,
    exchange: Any = None,
    warmup: int = 100,
    catch_up: int = 0,
    poll_interval: float = 5.0,
    max_bars: int | None = None,
    run_id: str | None = None,
    stop: threading.Event | None = None,
    handle_signals: bool = True,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    budget: TestnetBudget | None = None,
    base_url: str | None = None,
    resume: RunState | None = None,
) -> TestnetResult:
    """Run testnet profile ``profile`` through the execution pipeline, within its budget.

    Parameters
    ----------
    profile
        A ``[testnet.profiles.NAME]`` name.
    config
        The loaded config (default :func:`~peaktrade.config.load_config`).
    mode
        ``kraken-validate`` or ``kraken-sim`` (default ``[testnet] mode``).
    duration
        Seconds to run (default the profile's; always capped by ``[testnet] max_run_seconds``).
    dry_run
        Validate everything and report the plan and budget; create nothing, send nothing.
    client, exchange
        The adapter to use, or a ccxt-like object for the adapter (tests).
    warmup
        Completed bars loaded as indicator history (never traded).
    catch_up
        Trade the last ``catch_up`` completed bars right away (signals on them, orders at the
        venue now), then follow new bars. 0: new bars only.
    poll_interval, max_bars, run_id, stop, handle_signals, on_event, sleep
        As in :func:`peaktrade.live.run_session`.
    budget
        The budget store (default from ``[testnet]``).
    base_url
        Override the endpoint of ``mode`` (e.g. an in-process simulator's URL).
    resume
        A crashed or stopped run to continue (:func:`peaktrade.live.resume.resume_run`): its ledger and
        orders rebuilt from its run log; its missed fills are booked, it continues under its run id and
        ``catch_up`` is the number of bars completed since its last logged bar.

    Returns
    -------
    TestnetResult
        Log it to MLflow with :func:`peaktrade.tracking.session_runs.log_testnet_run` (the caller's job).
    """
    if config is None:
        from peaktrade.config import load_config

        config = load_config()
    cfg = config
    prof = get_profile(cfg, profile)
    mode = resolve_mode(cfg, mode)
    limits = BudgetLimits.from_config(cfg, prof)
    if prof.symbol not in limits.symbols:
        raise TestnetError(f"profile {profile!r} trades {prof.symbol}, which is not in [testnet] symbols "
                           f"({', '.join(limits.symbols)})")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                 or not duration > 0):
        raise TestnetError(bad_value("duration", duration, "seconds > 0"))
    run_seconds = min(float(duration if duration is not None else prof.duration), limits.max_run_seconds)
    budget = budget or TestnetBudget(cfg.budget_db_path, limits)
    usage = budget.usage()
    plan = plan_session(prof.strategy, cfg, symbol=prof.symbol, timeframe=prof.timeframe,
                        params=dict(prof.parameters),
                        options={"init_cash": float(cfg.testnet.init_cash), "size_type": "value",
                                 "size": float(prof.order_notional)})
    if resume is not None:
        if dry_run:
            raise TestnetError("a resumed run cannot be a dry run")
        check_same_plan(resume, plan)
    checks, guard = testnet_guard(cfg)
    if client is None:
        client = build_client(cfg, guard=guard, mode=mode, exchange=exchange, base_url=base_url)
    else:
        _check_testnet_client(client)
    if not getattr(client, "validate_only", False) and not DeadManSwitch.supported(client):
        raise TestnetError("the client places orders but has no dead-man switch (capabilities.dead_man_switch "
                           "False): expected a venue with one, or a validate-only client (fail closed)")
    if resume is not None and getattr(client, "validate_only", False):
        raise TestnetError(f"run {resume.run_id} placed orders: it cannot be resumed with a validate-only client")
    run_id = resume.run_id if resume is not None else (run_id or new_run_id("testnet", plan.strategy.name))
    info = {"profile": profile, "mode": mode, "url": getattr(client, "base_url", None),
            "validate_only": bool(getattr(client, "validate_only", False)), "run_seconds": run_seconds,
            "limits": limits.__dict__ | {"symbols": list(limits.symbols)}}
    if dry_run:
        return TestnetResult(run_id, None, "dry-run", mode, profile, {"plan": info, "strategy": plan.strategy.name,
                                                                     "params": plan.resolved}, usage, plan)
    if usage["daily_trades_left"] <= 0 or usage["daily_notional_left"] <= 0:
        raise TestnetError(f"today's testnet budget is spent ({usage['daily_trades']} trades, "
                           f"{usage['daily_notional']:,.2f} notional): see `peaktrade testnet budget`")

    # -- data: warm-up (+ catch-up bars) through the adapter -------------------------------------
    def load(n: int) -> Any:
        try:
            return plan_polling(plan, cfg, exchange="kraken", client=client, warmup=warmup,
                                poll_interval=poll_interval, max_history=DEFAULT_MAX_HISTORY, catch_up=n)
        except PeakTradeError as e:
            raise TestnetError(f"cannot fetch {plan.symbol} {plan.timeframe} bars ({mode}): {e}") from e

    catch, catch_up = catch_up_bars(load, plan, resume, catch_up)

    # -- pipeline --------------------------------------------------------------------------------
    costs = plan.options.costs
    all_checks = [*checks, BudgetCheck(budget, run_id=run_id, profile=profile)]
    pipe = build_pipeline(plan.symbol, plan.options, checks=all_checks, executor=lambda ctx: ExchangeExecutor(
        client, ctx, fees=costs.fees, slippage=costs.slippage, budget=budget))
    executor: ExchangeExecutor = pipe.executor  # type: ignore[assignment]
    meta = session_meta(plan, cfg, environment="testnet", checks=all_checks, executor=f"exchange:{mode}",
                        poll_interval=poll_interval, max_history=DEFAULT_MAX_HISTORY, warmup=warmup,
                        max_bars=max_bars)
    meta["testnet"] = info | {"catch_up": catch_up, "budget_at_start": usage}

    # the dead-man switch: a session that places orders keeps the venue's CancelAllOrdersAfter armed
    stop = stop if stop is not None else threading.Event()
    deadman = None
    if not getattr(client, "validate_only", False):
        deadman = DeadManSwitch(client, timeout=cfg.safety.deadman_timeout, refresh=cfg.safety.deadman_refresh)
        sleep = deadman.sleeper(stop, sleep)
        client_guard = getattr(client, "guard", None)
        if client_guard is None or not hasattr(client_guard, "require_deadman"):
            raise TestnetError("the client placing orders has no SafetyGuard to hold the dead-man switch: refusing "
                               "to start (fail closed)")
        client_guard.require_deadman(deadman)  # its wire check denies orders while the switch is not armed

    feed, settle = exchange_loop(plan, catch, pipe, executor, guard, deadman, stop)

    extra: dict[str, Any] = {}

    def write_testnet_summary(log: RunLog) -> None:
        extra.update(budget=budget.usage(run_id=run_id), venue_orders_sent=getattr(client, "sent_orders", None),
                     validated_descriptions=executor.descriptions[-5:], unsettled=executor.pending)
        log.update_meta(testnet_summary=extra)

    # one instance per (account, strategy, symbol): taken before the run directory exists, held to the end
    with SessionLock.for_session(cfg, "testnet", strategy=plan.strategy.name, symbol=plan.symbol,
                                 run_id=run_id) as lock:
        # a placing session (a resumed one always is: validate-only was refused above) reconciles first
        recon, reconcile = start_reconcile(client, pipe, lock, resume) if deadman is not None else (None, None)
        armed = deadman.arm() if deadman is not None else {"event": "deadman_unavailable"}  # before any order
        start = {"testnet_mode": mode, "profile": profile, "catch_up_bars": len(catch), "run_seconds": run_seconds,
                 **lock.start_fields(), "deadman": {k: v for k, v in armed.items() if k != "event"} or None,
                 "reconcile": reconcile}
        log, on_start = reopen_run(resume, recon, pipe, start)
        run = run_bars(plan, pipe, meta, runs_dir=cfg.runs_dir, run_id=run_id, feed=feed, start=start,
                       max_bars=max_bars, run_seconds=run_seconds, stop=stop, handle_signals=handle_signals,
                       on_event=on_event, sleep=sleep, finish=settle, on_close=write_testnet_summary,
                       config=cfg, log=log, on_start=on_start)
    return TestnetResult(run_id, run.run_dir, run.status, mode, profile, run.summary, extra["budget"], plan, extra,
                         pipe.ledger)


def catch_up_bars(load: Callable[[int], pd.DataFrame], plan: SessionPlan, resume: RunState | None,
                  catch_up: int) -> tuple[pd.DataFrame, int]:
    """Return ``(bars, n)``: the ``n`` bars a session trades right away, loaded by ``load(n)`` (which also loads the
    plan's history). A resumed run's are the bars completed since its last logged bar: its history ends there."""
    if resume is None or resume.last_bar is None:
        return load(catch_up), catch_up
    for _ in range(3):  # a bar completing between two loads shifts the split: load again
        loaded = load(catch_up)
        n = missed_bars(plan.history.index.append(loaded.index), resume.last_bar, plan.step)
        if n == catch_up and (not len(plan.history) or plan.history.index[-1] <= resume.last_bar):
            return loaded, catch_up
        catch_up = n
    raise ResumeError(f"cannot line up the bars after run {resume.run_id}'s last bar {resume.last_bar}: the "
                      f"venue's {plan.symbol} {plan.timeframe} bars keep moving; try again")


def start_reconcile(client: Any, pipe: Any, lock: Any, resume: RunState | None,
                    ) -> tuple[Reconciliation | None, dict[str, Any]]:
    """Reconcile a placing session (testnet or live) with the venue before its first order, under its session lock;
    return ``(recon, report)``, the report being the start event's ``reconcile``.

    A resumed run takes its ledger and its orders back (none of its client order ids is sent again), books the
    fills the venue made while it was down and checks its books against the venue's balances (fail closed:
    :func:`~peaktrade.live.resume.reconcile_run`); then the account's other open orders of the symbol are dealt
    with (:func:`_reconcile_orphans`). A new run records the venue's balances: the baseline a resume checks the
    books against (a resumed run keeps its first one)."""
    executor = pipe.executor
    recon: Reconciliation | None = None
    if resume is not None:
        pipe.ledger = resume.ledger
        executor.adopt_used(resume.orders)  # single-use: none of the dead run's client order ids is sent again
        recon = reconcile_run(client, resume)
        for req, venue_id, booked in recon.adopted:
            executor.adopt(req, venue_id, booked)
    own = {venue_id for _req, venue_id, _b in recon.adopted} if recon is not None else set()
    executor.events.extend(_reconcile_orphans(client, pipe.symbol, lock, own=own))
    if recon is not None:
        return recon, recon.report
    return None, {"balances": venue_balances(client, pipe.symbol), "open_orders": len(executor.pending)}


def reopen_run(resume: RunState | None, recon: Reconciliation | None, pipe: Any, start: dict[str, Any],
               ) -> tuple[RunLog | None, Callable[[Recorder], None] | None]:
    """Return ``(log, on_start)`` for :func:`~peaktrade.live.session.run_bars`: a resumed run's reopened run log
    (``start`` gains where it resumed from) and the step that picks it up (:func:`_continue`); ``(None, None)``
    for a new run."""
    if resume is None or recon is None:
        return None, None
    log, cut = RunLog.reopen(resume.run_dir, resumes=[*resume.meta.get("resumes", []),
                                                       {"from_status": resume.status,
                                                        "at": pd.Timestamp.now(tz="UTC").isoformat()}])
    start |= {"resumed_from": resume.status, "last_bar": resume.last_bar, "truncated_tail": cut}
    return log, functools.partial(_continue, resume, recon, pipe)


def _continue(st: RunState, recon: Reconciliation, pipe: Any, rec: Recorder) -> None:
    """Pick a resumed run up where it stopped, before its first new bar: the recorder's history, the fills
    the venue made while the run was down (booked and logged once), the signal not yet acted on."""
    rec.times[:0], rec.values[:0] = st.times, st.values
    for k, v in st.counts.items():
        rec.counts[k] += v
    for f in recon.fills:
        pipe.book(OrderExecutionResult(OrderRequest(f.symbol, f.side, f.quantity, client_order_id=f.client_order_id,
                                                    tag=f.tag), OrderStatus.FILLED, (f,), reason="reconciled"))
    rec.last_position = pipe.ledger.position(st.symbol)
    if not st.last_bar_done and st.last_bar is not None and st.last_close is not None:
        # the bar the process died in: its equity at its close, with the fills it caused now booked
        equity = pipe.ledger.equity({st.symbol: st.last_close})
        rec.times.append(st.last_bar)
        rec.values.append(equity)
        rec.emit("equity", st.last_bar + rec.plan.step, {"equity": equity, "cash": pipe.ledger.cash,
                                                         "position": rec.last_position})
    pos = pipe.ledger.positions.get(st.symbol)
    if pos is not None and pos.quantity:
        # stops are watched from the next bar, measured from the entry price (a trailing extreme is not logged)
        pipe._extreme, pipe._stop_from = pos.avg_price, st.last_bar
    if st.last_signal is not None and pipe.execution == "next_open":
        pipe.pending = pipe.target_for(*st.last_signal)
    rec.emit("session", None, {"event": "resumed", "run_id": st.run_id, "fills_booked": len(recon.fills),
                               "adopted_open": [r.client_order_id for r, _v, _b in recon.adopted],
                               "absent": recon.absent, "pending_target": pipe.pending,
                               "position": pipe.ledger.position(st.symbol), "cash": pipe.ledger.cash})



def exchange_loop(plan: SessionPlan, catch: pd.DataFrame, pipe: Any, executor: ExchangeExecutor, guard: Any,
                  deadman: DeadManSwitch | None, stop: threading.Event,
                  ) -> tuple[Callable[[Clock, Recorder], Iterable[Bar]], Callable[[Recorder], None]]:
    """Return ``(feed, finish)`` of a testnet or live session: the catch-up bars then polled ones; after each bar
    the venue events are logged (unknown outcomes, orders reconciled as absent, orders the guard refused at the
    wire: price collar, kill switch; failed dead-man re-arms, and a lapsed switch stops the session); at the end
    the orders are settled."""
    seen = [len(guard.log.records)]

    def venue_events(rec: Recorder) -> None:
        records, seen[0] = guard.log.records[seen[0]:], len(guard.log.records)
        for d in records:
            if d.kind == "wire" and not d.allowed:
                executor.events.append({"event": "wire_denied", "gate": d.gate, "reason": d.reason,
                                        "client_order_id": (d.subject or {}).get("client_order_id")})
        if deadman is not None:
            deadman.tick()
            executor.events.extend(deadman.events)
            deadman.events.clear()
            if deadman.lapsed:  # the wire already denies every order; nothing left to do but stop
                stop.set()
        for ev in executor.events:
            rec.emit("session", None, ev)
        executor.events.clear()

    def feed(clock: Clock, rec: Recorder) -> Iterable[Bar]:
        caught = ((ts, row["open"], row["high"], row["low"], row["close"], row["volume"])
                  for ts, row in catch.iterrows())
        for bar in itertools.chain(caught, plan.poller.bars(clock, rec.data_error)):
            yield bar
            venue_events(rec)  # the bar was processed when the loop asks for the next one

    def settle(rec: Recorder) -> None:
        for res in executor.settle_all():
            pipe.book(res)
        venue_events(rec)
        if executor.pending:
            rec.emit("session", None, {"event": "unsettled_orders", "client_order_ids": executor.pending})

    return feed, settle


def _reconcile_orphans(client: Any, symbol: str, lock: Any, *, own: set[str] = frozenset()) -> list[dict[str, Any]]:
    """Deal with the venue's open ``symbol`` orders before the first arm (fail closed); return run-log events.

    A starting session owns no order yet, so every open order of ``symbol`` is someone else's (a resumed run
    owns the still-open orders of its run log: their venue ids are ``own``). When the
    session lock was taken over from a dead holder of the same (account, strategy, symbol) they were that
    session's orphans, kept alive by the account-wide dead-man switch this session is about to re-arm:
    cancel each (an ``orphan_order_cancelled`` event names it). Otherwise they may belong to a running
    session (or a person) and are not ours to cancel: refuse to start, naming them.
    """
    try:
        orders = client.fetch_open_orders(symbol)
    except Exception as e:  # noqa: BLE001 — what rests at the venue must be known before trading
        raise TestnetError(f"cannot list the venue's open {symbol} orders before starting ({e}): refusing to "
                           "start (fail closed)") from None
    orders = [o for o in orders if o.id not in own]
    if not orders:
        return []
    names = ", ".join(f"{o.id} ({o.client_order_id or 'no client id'}: {o.side} {o.amount:g} @ {o.price})"
                      for o in orders)
    if lock.took_over is None:
        raise TestnetError(f"the venue holds {len(orders)} open {symbol} order(s) this session does not own: "
                           f"{names}; cancel them or wait for their session to end, then start again (fail "
                           "closed: the account-wide dead-man switch would keep them alive)")
    events = []
    for o in orders:
        try:
            client.cancel_order(order_id=o.id, symbol=symbol)
        except Exception as e:  # noqa: BLE001
            raise TestnetError(f"cannot cancel orphaned order {o.id} of the dead session "
                               f"({lock.message}): {e}: refusing to start (fail closed)") from None
        events.append({"event": "orphan_order_cancelled", "order_id": o.id, "client_order_id": o.client_order_id,
                       "side": o.side, "amount": o.amount, "price": o.price, "dead_session": lock.took_over})
    left = [o for o in client.fetch_open_orders(symbol) if o.id not in own]
    if left:
        raise TestnetError(f"orphaned {symbol} orders still open after cancelling: "
                           f"{', '.join(o.id for o in left)}: refusing to start (fail closed)")
    return events


@dataclass
class SmokeOrder:
    """The outcome of :func:`smoke_order`: the order and the venue's description of it (validated, never
    placed)."""

    mode: str
    request: Any
    status: str
    description: str


def smoke_order(config: Config, *, mode: str | None = None, symbol: str = "BTC/USD", side: str = "buy",
                client: Any = None) -> SmokeOrder:
    """Send one minimal validate-only market order through the execution pipeline and the testnet checks.

    The order is the venue's minimum amount of ``symbol``; it passes the testnet pre-trade checks
    (SafetyGuard, RiskLimits: :func:`testnet_guard`) at the venue's current price, then an
    :class:`~peaktrade.orders.exchange.ExchangeExecutor` over a validate-only client: the venue
    checks it and never places it. A denied order raises :class:`TestnetError` naming the gate.
    """
    from peaktrade.backtest.options import BacktestOptions
    from peaktrade.orders.model import OrderRequest, new_client_order_id

    if symbol not in config.testnet.symbols:
        raise TestnetError(f"symbol {symbol} is not in [testnet] symbols ({', '.join(config.testnet.symbols)})")
    if side not in ("buy", "sell"):
        raise TestnetError(bad_value("side", side, "buy or sell"))
    mode = resolve_mode(config, mode)
    checks, guard = testnet_guard(config)
    if client is None:
        client = build_client(config, guard=guard, mode=mode, validate_only=True)
    else:
        _check_testnet_client(client)
    if not getattr(client, "validate_only", False):
        raise TestnetError("a smoke order needs a validate-only client: it must never be placed")
    market = client.load_markets().get(symbol)
    if market is None:
        raise TestnetError(f"the venue lists no market {symbol}")
    price = client.fetch_ticker(symbol).last
    if not price or not price > 0:
        raise TestnetError(f"the venue gives no last price for {symbol}: the order cannot be checked")
    opts = BacktestOptions.from_config(config, init_cash=float(config.testnet.init_cash))
    pipe = build_pipeline(symbol, opts, checks=checks, executor=lambda ctx: ExchangeExecutor(
        client, ctx, fees=opts.costs.fees, slippage=opts.costs.slippage))
    denials: list[Any] = []
    pipe.hooks.on_denial.append(lambda _req, d: denials.append(d))
    now = pd.Timestamp.now(tz="UTC")
    ctx = pipe.context
    ctx.time, ctx.price = now, float(price)
    ctx.bar_open = ctx.bar_high = ctx.bar_low = ctx.bar_close = float(price)
    req = OrderRequest(symbol, side, float(market.amount_min or 0.0001), "market", client_order_id=new_client_order_id(),
                       tag="smoke")
    res = pipe.submit(req, price=float(price), now=now)
    if res is None:
        d = denials[-1] if denials else None
        raise TestnetError(f"smoke order denied by {d.gate}: {d.reason}" if d is not None else "smoke order denied")
    executor: ExchangeExecutor = pipe.executor  # type: ignore[assignment]
    if res.status.value == "rejected":
        raise TestnetError(f"smoke order rejected: {res.reason}")
    if not executor.descriptions:  # no validation answer: an unknown outcome is not a passed check
        raise TestnetError(f"smoke order not confirmed: the venue gave no validation answer ({res.status.value}"
                           f"{': ' + res.reason if res.reason else ''}); validate-only, so nothing was placed")
    return SmokeOrder(mode, req, res.status.value, executor.descriptions[-1])


#: One step of :func:`testnet_smoke` (``status`` pass / fail / skip, ``reason`` says why): a readiness check's shape.
SmokeStep = CheckResult


def testnet_smoke(config: Config, *, mode: str | None = None, symbol: str = "BTC/USD",
                  client: Any = None) -> list[SmokeStep]:
    """Run the whole stack once against the testnet venue: ping, markets, balance, a validate-only order through
    the pipeline and the checks, cancel-all, the dead-man switch, a test alert (to ``PEAKTRADE_ALERT_URLS``;
    skipped when none is set); every step runs, each passes, fails or is skipped with a reason. Nothing is
    placed: the client is validate-only. The steps shared with ``peaktrade live readiness`` are
    :mod:`peaktrade.live.readiness`'s.
    """
    from peaktrade.adapters.errors import EndpointDenied

    mode = resolve_mode(config, mode)
    if client is None:
        _checks, guard = testnet_guard(config)
        client = build_client(config, guard=guard, mode=mode, validate_only=True)
    else:
        _check_testnet_client(client)

    def ping() -> str:
        status = client.fetch_status().get("status")
        skew = clock_skew(client)
        if status not in (None, "ok"):
            raise TestnetError(f"venue status is {status!r}")
        return f"status {status or 'ok'}, clock skew {skew:+.2f} s"

    def markets() -> str:
        m = client.load_markets()
        if symbol not in m:
            raise TestnetError(f"the venue lists no market {symbol}")
        return f"{len(m)} markets, {symbol} listed"

    def balance() -> str:
        b = client.fetch_balance()
        return ", ".join(f"{k}={v:g}" for k, v in sorted(b.total.items())) or "(empty)"

    def order() -> str:
        r = smoke_order(config, mode=mode, symbol=symbol, client=client)
        return f"validate-only {r.request.side} {r.request.quantity:g} {symbol}: {r.description} (not placed)"

    def no_running_session() -> None:
        """Cancel-all and the dead-man switch are account-wide: never while a session of the account runs."""
        from peaktrade.safety._lock import describe_holder

        held = SessionLock.holders(config, "testnet")
        if held:
            raise Skip("a session of this account is running (" + "; ".join(
                f"{describe_holder(h)}, lock {h['lock']}" for h in held) + "): account-wide step not run")

    def cancel_all() -> str:
        no_running_session()
        try:
            return f"{client.cancel_all_orders()} open orders cancelled"
        except EndpointDenied as e:
            raise Skip(f"{mode}: {e}") from None

    def deadman() -> str:
        no_running_session()
        try:
            armed = arm_dead_man_switch(client, config.safety.deadman_timeout)
        except EndpointDenied as e:
            raise Skip(f"{mode}: {e}") from None
        off = client.cancel_all_orders_after(0)  # checked: disarm, nobody relies on it (no session runs)
        if off.get("trigger_time") not in (None, "0"):
            raise TestnetError(f"armed but not disarmed: the venue answered {off} to timeout 0")
        return f"{armed}, then disarmed"

    return [run_check(name, fn) for name, fn in (
        ("ping", ping), ("markets", markets), ("balance", balance), ("validate_only_order", order),
        ("cancel_all", cancel_all), ("dead_man_switch", deadman), ("alert", lambda: send_test_alert(config)))]


def run_notebook(profile: str, *, config: Config, duration: float | None = None, mode: str | None = None,
                 output_dir: Path | None = None, notebook: Path | None = None, timeout: int = 3600) -> Path:
    """Execute ``notebooks/60-testnet-session.ipynb`` with papermill for ``profile``; return the output notebook."""
    import papermill as pm

    nb = notebook or next((p for p in NOTEBOOK_PATHS if (config.root / p).is_file()), NOTEBOOK_PATHS[0])
    nb = nb if nb.is_absolute() else config.root / nb
    if not nb.is_file():
        raise TestnetError(f"testnet notebook not found: {nb}")
    out_dir = output_dir or (config.runs_dir / "notebooks")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-testnet-{profile}.ipynb"
    params = {"profile": profile, "duration": float(duration if duration is not None else 0.0),
              "mode": mode or config.testnet.mode}
    pm.execute_notebook(str(nb), str(out), parameters=params, cwd=str(config.root), progress_bar=False,
                        execution_timeout=timeout, kernel_name="python3")
    return out
