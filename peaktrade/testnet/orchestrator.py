"""Testnet orchestrator: run a ``[testnet.profiles.NAME]`` profile as a testnet session.

The session is the paper/shadow session machinery of :mod:`peaktrade.live.session` (plan, live
poller, signal stepping, run log, recorder) with two differences: orders go to a
:class:`~peaktrade.testnet.executor.TestnetExecutor` backed by the Kraken adapter, and every order
passes the testnet checks — :func:`peaktrade.safety.build_checks` ``("testnet", executor_kind="exchange")``
then the :class:`~peaktrade.testnet.budget.BudgetCheck` — inside the execution pipeline.

Each run writes its run log under ``[runs] dir`` (environment ``testnet``) and an MLflow run.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from peaktrade.errors import PeakTradeError, bad_value
from peaktrade.sim._credentials import DEFAULT_SIM_API_KEY as SIM_API_KEY  # noqa: F401 — documented defaults
from peaktrade.sim._credentials import DEFAULT_SIM_API_SECRET as SIM_API_SECRET  # noqa: F401
from peaktrade.sim._credentials import sim_credentials
from peaktrade.testnet.budget import BudgetCheck, BudgetLimits, TestnetBudget

MODES = ("kraken-validate", "kraken-sim")
#: Where the scheduled testnet notebook is looked for (relative to the project root).
NOTEBOOK_PATHS = (Path("notebooks/60-testnet-session.ipynb"),)


class TestnetError(PeakTradeError):
    """A testnet run cannot start or go on (the message says why)."""

    __test__ = False


@dataclass
class TestnetResult:
    """The outcome of :func:`run_testnet_session` (``run_dir`` None for a dry run)."""

    __test__ = False

    run_id: str
    run_dir: Path | None
    status: str
    mode: str
    profile: str
    summary: dict[str, Any]
    budget: dict[str, Any]
    mlflow_run_id: str | None = None
    ledger: Any = None


def get_profile(config: Any, name: str) -> Any:
    """Return ``[testnet.profiles.<name>]``; raise :class:`TestnetError` listing the profiles when unknown."""
    profiles = config.testnet.profiles
    if name not in profiles:
        raise TestnetError(bad_value("profile", name, f"one of {', '.join(sorted(profiles)) or '(none configured)'}"))
    return profiles[name]


def budget_from_config(config: Any, profile: Any = None, *, clock: Callable[[], Any] | None = None) -> TestnetBudget:
    """Return the budget store of ``config`` with the limits of ``profile`` (or of ``[testnet]``)."""
    kw = {"clock": clock} if clock is not None else {}
    return TestnetBudget(config.budget_db_path, BudgetLimits.from_config(config, profile), **kw)


def resolve_mode(config: Any, mode: str | None) -> str:
    mode = mode or config.testnet.mode
    if mode not in MODES:
        raise TestnetError(bad_value("mode", mode, " or ".join(MODES)))
    return mode


def build_client(config: Any, *, guard: Any, mode: str | None = None, exchange: Any = None,
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


def testnet_guard(config: Any) -> tuple[list[Any], Any]:
    """Return ``(checks, guard)``: the testnet pre-trade checks and their SafetyGuard (fail closed)."""
    from peaktrade.safety import SafetyGuard, build_checks

    try:
        checks = list(build_checks("testnet", config=config, executor_kind="exchange"))
    except PeakTradeError:
        raise
    except Exception as e:  # noqa: BLE001 — a safety layer that cannot be built must not be bypassed
        raise TestnetError(f"cannot build the testnet safety checks ({type(e).__name__}: {e}): refusing to start "
                           "(fail closed)") from e
    guard = next((c for c in checks if isinstance(c, SafetyGuard)), None)
    if guard is None:
        raise TestnetError("the testnet checks hold no SafetyGuard: refusing to start (fail closed)")
    return checks, guard


def _bars_rows(poller: Any, n: int) -> pd.DataFrame:
    from peaktrade.live.session import _bars_frame

    rows = poller.fetch_completed(limit=max(n, 1) + 1)
    if rows:
        poller.last_ts = int(rows[-1][0])
    return _bars_frame(rows[-n:] if n > 0 else [])


def run_testnet_session(
    profile: str,
    *,
    config: Any = None,
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
    track: bool = True,
    budget: TestnetBudget | None = None,
    base_url: str | None = None,
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
        venue now), then follow live bars. 0: live bars only.
    poll_interval, max_bars, run_id, stop, handle_signals, on_event, sleep
        As in :func:`peaktrade.live.run_session`.
    track
        Log an MLflow run (fail-soft).
    budget
        The budget store (default from ``[testnet]``).
    base_url
        Override the endpoint of ``mode`` (e.g. an in-process simulator's URL).
    """
    from peaktrade.execution.ledger import Ledger
    from peaktrade.execution.pipeline import ExecutionPipeline, Hooks, SizingModel, StopRules
    from peaktrade.live import session as S
    from peaktrade.live.runs import COMPLETED, CRASHED, STOPPED, RunLog, new_run_id
    from peaktrade.orders.paper import PaperMarketContext
    from peaktrade.testnet.executor import TestnetExecutor

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
    budget = budget or budget_from_config(cfg, prof)
    usage = budget.usage()
    plan = S._plan(prof.strategy, cfg, symbol=prof.symbol, timeframe=prof.timeframe, params=dict(prof.parameters),
                   options={"init_cash": float(cfg.testnet.init_cash), "size_type": "value",
                            "size": float(prof.order_notional)})
    checks, guard = testnet_guard(cfg)
    if client is None:
        client = build_client(cfg, guard=guard, mode=mode, exchange=exchange, base_url=base_url)
    else:
        # a client handed in keeps its own guard: it must be a testnet guard (a live client would trade live)
        env = getattr(getattr(getattr(client, "guard", None), "environment", None), "value", None)
        if env != "testnet":
            raise TestnetError(f"the client given to the testnet session is guarded for {env or 'no environment'}: "
                               "expected a client built with a testnet SafetyGuard (build_client)")
    run_id = run_id or new_run_id("testnet", plan.strategy.name)
    info = {"profile": profile, "mode": mode, "url": getattr(client, "base_url", None),
            "validate_only": bool(getattr(client, "validate_only", False)), "run_seconds": run_seconds,
            "limits": limits.__dict__ | {"symbols": list(limits.symbols)}}
    if dry_run:
        return TestnetResult(run_id, None, "dry-run", mode, profile, {"plan": info, "strategy": plan.strategy.name,
                                                                     "params": plan.resolved}, usage)
    if usage["daily_trades_left"] <= 0 or usage["daily_notional_left"] <= 0:
        raise TestnetError(f"today's testnet budget is spent ({usage['daily_trades']} trades, "
                           f"{usage['daily_notional']:,.2f} notional): see `peaktrade testnet budget`")

    # -- data: warm-up (+ catch-up bars) through the adapter -------------------------------------
    poller = S.LivePoller(client, plan.symbol, plan.timeframe, poll_interval=poll_interval,
                          limit=max(warmup + catch_up, 2) + 2)
    try:
        loaded = _bars_rows(poller, warmup + catch_up)
    except PeakTradeError as e:
        raise TestnetError(f"cannot fetch {plan.symbol} {plan.timeframe} bars ({mode}): {e}") from e
    history = loaded.iloc[:len(loaded) - catch_up] if catch_up else loaded
    catch = loaded.iloc[len(loaded) - catch_up:] if catch_up else loaded.iloc[:0]
    plan.mode, plan.exchange, plan.poller, plan.history = "live", "kraken", poller, history
    plan.signals = S.RollingSignalStepper(plan.strategy, plan.resolved, history=history, frac=plan.frac)

    # -- pipeline --------------------------------------------------------------------------------
    o, stops = plan.options, plan.stops
    ctx = PaperMarketContext(plan.symbol)
    executor = TestnetExecutor(client, ctx, fees=float(o["fees"]), slippage=float(o["slippage"]), budget=budget)
    budget_check = BudgetCheck(budget, run_id=run_id, profile=profile)
    all_checks = [*checks, budget_check]
    pipe = ExecutionPipeline(
        symbol=plan.symbol, executor=executor, ledger=Ledger(float(o["init_cash"])), context=ctx, checks=all_checks,
        execution=o["execution"], direction=o["direction"],
        sizing=SizingModel(float(o["size"]), o["size_type"], float(o["fees"]), float(o["fixed_fees"]),
                           float(o["slippage"])),
        stops=StopRules(stops.get("sl_stop"), stops.get("tp_stop"), stops.get("sl_trail"), o["stop_priority"]),
        hooks=Hooks())
    meta = S._meta(plan, cfg, environment="testnet", checks=all_checks, live=True, poll_interval=poll_interval,
                   max_history=S.DEFAULT_MAX_HISTORY, warmup=warmup, max_bars=max_bars)
    meta["executor"] = f"exchange:{mode}"
    meta["testnet"] = info | {"catch_up": catch_up, "budget_at_start": usage}

    stop = stop if stop is not None else threading.Event()
    clock = S._Clock(stop, sleep)
    timer = threading.Timer(run_seconds, stop.set)
    timer.daemon = True
    mlflow_id = None
    with S._StopOnSignals(stop, enabled=handle_signals) as signals:
        log = RunLog.create(cfg.runs_dir, run_id, meta)
        rec = S._Recorder(log, pipe, plan, on_event)
        status, error = CRASHED, None
        timer.start()
        try:
            rec.emit("session", None, {"event": "start", "run_id": run_id, "environment": "testnet", "mode": "live",
                                       "testnet_mode": mode, "profile": profile, "strategy": plan.strategy.name,
                                       "symbol": plan.symbol, "timeframe": plan.timeframe,
                                       "warmup_bars": len(history), "catch_up_bars": len(catch),
                                       "run_seconds": run_seconds, "pid": os.getpid(), "host": socket.gethostname()})
            log.flush()

            def source() -> Iterator[Any]:
                for ts, row in catch.iterrows():
                    yield ts, row["open"], row["high"], row["low"], row["close"], row["volume"]
                yield from poller.bars(clock, rec.data_error)

            for bar in source():
                if stop.is_set():
                    break
                rec.bar(*bar)
                if (max_bars is not None and rec.n_bars >= max_bars) or stop.is_set():
                    break
            for res in executor.settle_all():
                pipe._book(res)
            if executor.pending:
                rec.emit("session", None, {"event": "unsettled_orders", "client_order_ids": executor.pending})
            status = STOPPED if signals.received else COMPLETED
            if signals.received:
                rec.emit("session", None, {"event": "stop_requested", "signal": signals.received})
        except KeyboardInterrupt:
            status, error = STOPPED, "interrupted twice: stopped immediately, mid-bar"
        except BaseException as e:
            status, error = CRASHED, f"{type(e).__name__}: {e}"
            raise
        finally:
            timer.cancel()
            signals.closing = True
            summary = rec.close(status, error)
            summary_extra = {"budget": budget.usage(run_id=run_id), "venue_orders_sent": getattr(client, "sent_orders", None),
                             "validated_descriptions": executor.descriptions[-5:], "unsettled": executor.pending}
            log.update_meta(testnet_summary=summary_extra)
            if track:
                mlflow_id = _track(cfg, run_id, profile, mode, plan, summary, summary_extra, log.run_dir)
    return TestnetResult(run_id, log.run_dir, status, mode, profile, summary, summary_extra["budget"], mlflow_id,
                         pipe.ledger)


def _track(cfg: Any, run_id: str, profile: str, mode: str, plan: Any, summary: Mapping[str, Any],
           extra: Mapping[str, Any], run_dir: Path) -> str | None:
    """Log the run to MLflow (fail-soft: returns None when tracking is unavailable)."""
    try:
        from peaktrade.tracking import tracked_run

        params = {"profile": profile, "testnet_mode": mode, "strategy": plan.strategy.name, **{
            f"param.{k}": v for k, v in plan.resolved.items()}}
        with tracked_run(config=cfg, run_name=f"testnet {profile} {run_id}", params=params,
                         tags={"peaktrade.environment": "testnet", "peaktrade.run_id": run_id,
                               "peaktrade.testnet_mode": mode},
                         strategy=plan.strategy.name, symbol=plan.symbol, timeframe=plan.timeframe) as run:
            b = extra.get("budget") or {}
            run.log_metrics({k: summary.get(k) for k in ("final_equity", "total_return", "n_orders", "n_fills",
                                                        "n_denials", "n_trades", "fees_paid", "bars")
                             if isinstance(summary.get(k), (int, float))}
                            | {"budget_run_notional": b.get("run_notional", 0.0),
                               "budget_run_trades": b.get("run_trades", 0)})
            run.log_artifact(run_dir / "meta.json")
            return run.run_id
    except Exception:  # noqa: BLE001 — tracking never fails a run
        return None


def run_notebook(profile: str, *, config: Any, duration: float | None = None, mode: str | None = None,
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
