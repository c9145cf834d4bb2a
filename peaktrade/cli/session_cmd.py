"""``peaktrade paper run``, ``peaktrade shadow run`` and ``peaktrade runs list|show|tail``: sessions whose
orders are simulated, and their run logs. (Real-money trading is ``peaktrade live``: cli/live_cmd.py.)"""

from __future__ import annotations

import json
import time
from typing import Any

import typer
from rich.markup import escape

from peaktrade.cli._common import JSON_OPTION, console, err_console, load_cfg, parse_kv, print_json
from peaktrade.cli.data_cmd import SIM_EXCHANGE, SIM_URL_OPTION, VENUE_OPTION
from peaktrade.errors import PeakTradeError

paper_app = typer.Typer(no_args_is_help=True)
shadow_app = typer.Typer(no_args_is_help=True)
runs_app = typer.Typer(no_args_is_help=True)

_ENGINE_DOC = "From config [backtest] when omitted."


def _say(text: str) -> None:
    console.print(text, soft_wrap=True, highlight=False, markup=False)


def _warn(text: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(text)}", soft_wrap=True, highlight=False)


def _num(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v).lower() if isinstance(v, bool) else "-"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) >= 1000 else f"{v:.6g}"
    return str(v)


def _short_time(t: Any) -> str:
    if not t:
        return "-"
    s = str(t).replace("T", " ")
    return s[:16] if len(s) >= 16 else s


def event_line(ev: dict[str, Any]) -> str:
    """Render one event as a greppable line: seq, market time, type, payload as key=value."""
    p = dict(ev.get("payload") or {})
    if ev.get("type") in ("order", "fill", "denial"):
        p.pop("symbol", None)
        if isinstance(p.get("client_order_id"), str):
            p["client_order_id"] = p["client_order_id"][:11]  # "pt-" + 8 hex: enough to match order ↔ fill
        for k in ("limit_price", "type") if p.get("type") == "market" else ():
            p.pop(k, None)
    parts = [f"{k}={_num(v) if not isinstance(v, (dict, list)) else json.dumps(v)}" for k, v in p.items()]
    return f"{ev.get('seq', '?'):>7}  {_short_time(ev.get('time')):<16}  {ev.get('type', '?'):<8}  {' '.join(parts)}"


# -- sessions --------------------------------------------------------------------------------------
def _run(ctx: typer.Context, environment: str, *, strategy: str, symbol: str, timeframe: str,
         exchange: str | None, param: list[str] | None, fees: float | None, slippage: float | None,
         execution: str | None, direction: str, init_cash: float | None, replay: str | None, speed: float,
         poll_exchange: bool, warmup: int | None, poll: float, max_bars: int | None, quiet: bool,
         venue: str = "exchange", sim_url: str | None = None) -> None:
    from peaktrade.adapters.kraken import RetryPolicy, is_unreachable, unreachable_hint, venue_client
    from peaktrade.live.session import run_session

    if replay is not None and poll_exchange:
        raise PeakTradeError("--replay and --poll-exchange are exclusive: replay stored bars or poll the exchange")
    if replay is None and not poll_exchange:
        raise PeakTradeError("give --replay START:END (stored bars; ':' for all) or --poll-exchange "
                             "(poll completed bars from the exchange)")
    if speed and poll_exchange:
        raise PeakTradeError("--speed paces a replay: it does not apply to --poll-exchange")
    if venue != "exchange" and not poll_exchange:
        raise PeakTradeError(f"--venue {venue} chooses the polled venue: give --poll-exchange with it")
    cfg = load_cfg(ctx.obj)
    sim_url = sim_url or cfg.testnet.sim_url
    client = None
    if poll_exchange and venue != "exchange":
        exchange = exchange or SIM_EXCHANGE
        # one attempt per poll, as for the exchange: the feed retries with a backoff a stop interrupts
        client = venue_client(venue, exchange=exchange, sim_url=sim_url, retry=RetryPolicy(max_attempts=1))
    options: dict[str, Any] = {"direction": direction}
    for name, value in (("fees", fees), ("slippage", slippage), ("execution", execution), ("init_cash", init_cash)):
        if value is not None:
            options[name] = value
    paced = poll_exchange or speed > 0

    def on_event(ev: dict[str, Any]) -> None:
        if quiet:
            return
        kind = ev["type"]
        p = ev["payload"]
        if kind == "session" and p.get("event") == "start":
            _say(f"{environment} session {p['run_id']}: {p['strategy']} on {p['symbol']} {p['timeframe']} "
                 f"({p['mode']}, {p['warmup_bars']} warm-up bars); Ctrl-C stops after the current bar")
        elif kind in ("fill", "denial") or (kind == "session" and p.get("event") != "end"):
            _say(event_line(ev))
        elif kind == "equity" and paced:
            _say(f"bar {_short_time(ev['time'])}  equity {p['equity']:,.2f}  position {p['position']:.6g}")

    try:
        res = run_session(
            strategy, symbol=symbol, timeframe=timeframe, environment=environment, exchange=exchange,
            params=parse_kv(param, option="--param"), replay=replay, poll=poll_exchange, speed=speed,
            warmup=warmup, poll_interval=poll, max_bars=max_bars, config=cfg, on_event=on_event, client=client,
            **options,
        )
    except PeakTradeError as e:
        if not (poll_exchange and is_unreachable(e)):
            raise
        raise PeakTradeError(f"{e}; {unreachable_hint(venue, sim_url=sim_url)}") from e
    s = res.summary
    rows = [("bars", f"{s['bars']:,} ({_short_time(s['first_bar'])} → {_short_time(s['last_bar'])})"),
            ("trades", s["n_trades"]),
            ("orders / fills / denials", f"{s['n_orders']} / {s['n_fills']} / {s['n_denials']}"),
            ("fees paid", f"{s['fees_paid']:,.2f}"), ("position", f"{s['position']:.6g}"),
            ("final equity", f"{s['final_equity']:,.2f}"), ("total return", f"{s['total_return']:+.2%}"),
            ("costs", _costs_line(_run_options(res.run_dir))), ("run log", str(res.run_dir))]
    # plain lines, never wrapped: paths and ids stay greppable
    _say(f"{environment} run {res.run_id}: {res.status}")
    for k, v in rows:
        _say(f"  {k:<26}{v}")


_STRATEGY = typer.Option(..., "--strategy", help="Strategy name (see `peaktrade strategies list`).")
_SYMBOL = typer.Option("BTC/USD", "--symbol", help="Market symbol, e.g. BTC/USD.")
_TF = typer.Option("1h", "--timeframe", help="Bar timeframe, e.g. 1h.")
_PARAM = typer.Option(None, "--param", help="Strategy parameter NAME=VALUE (repeatable).")
_FEES = typer.Option(None, "--fees", help="Proportional fee per side. " + _ENGINE_DOC)
_SLIP = typer.Option(None, "--slippage", help="Proportional slippage. " + _ENGINE_DOC)
_EXEC = typer.Option(None, "--execution", help="next_open or close. " + _ENGINE_DOC)
_DIR = typer.Option("long", "--direction", help="long, short or both.")
_CASH = typer.Option(None, "--init-cash", help="Starting cash (quote currency). " + _ENGINE_DOC)
_WARMUP = typer.Option(None, "--warmup", help="Completed bars loaded before the first traded bar (indicator history; "
                       "default: the session default, 720).")
_POLL = typer.Option(30.0, "--poll", help="Polling: longest wait between polls, in seconds.")


def _renamed_live(ctx: typer.Context, value: bool) -> bool:
    # users' scripts still say --live: fail in one line naming the new flag ('live' is real money only)
    if value:
        new = ("shadow sessions always poll the exchange: drop it" if ctx.info_name == "run" and
               ctx.parent is not None and ctx.parent.info_name == "shadow" else
               "it was renamed --poll-exchange (poll completed bars from the exchange; orders stay simulated)")
        raise PeakTradeError(f"--live is no longer a session option: {new}; 'live' is the real-money "
                             "environment only (`peaktrade live`)")
    return value


_OLD_LIVE = typer.Option(False, "--live", hidden=True, callback=_renamed_live, is_eager=True,
                         help="Renamed --poll-exchange.")
_MAXB = typer.Option(None, "--max-bars", help="End after this many traded bars.")
_QUIET = typer.Option(False, "--quiet", help="Print only the summary.")


@paper_app.command("run")
def paper_run(
    ctx: typer.Context,
    strategy: str = _STRATEGY,
    symbol: str = _SYMBOL,
    timeframe: str = _TF,
    exchange: str | None = typer.Option(None, "--exchange", help="Replay: the store's exchange ('synthetic' "
                                           "for the demo data); polling: the exchange polled (default: [data] exchange)."),
    param: list[str] | None = _PARAM,
    fees: float | None = _FEES,
    slippage: float | None = _SLIP,
    execution: str | None = _EXEC,
    direction: str = _DIR,
    init_cash: float | None = _CASH,
    replay: str | None = typer.Option(None, "--replay", help="Replay stored bars START:END (END exclusive; "
                                         "either side may be empty, ':' for all)."),
    speed: float = typer.Option(0.0, "--speed", help="Replay pacing in bars per second (0: as fast as possible)."),
    poll_exchange: bool = typer.Option(False, "--poll-exchange",
                                       help="Poll completed bars from the exchange's public endpoint."),
    live: bool = _OLD_LIVE,
    warmup: int | None = _WARMUP,
    poll: float = _POLL,
    max_bars: int | None = _MAXB,
    quiet: bool = _QUIET,
    venue: str = VENUE_OPTION,
    sim_url: str | None = SIM_URL_OPTION,
) -> None:
    """Paper-trade a strategy over replayed stored bars or bars polled from the exchange; orders are simulated."""
    _run(ctx, "paper", strategy=strategy, symbol=symbol, timeframe=timeframe, exchange=exchange, param=param,
         fees=fees, slippage=slippage, execution=execution, direction=direction, init_cash=init_cash,
         replay=replay, speed=speed, poll_exchange=poll_exchange, warmup=warmup, poll=poll, max_bars=max_bars,
         quiet=quiet, venue=venue, sim_url=sim_url)


@shadow_app.command("run")
def shadow_run(
    ctx: typer.Context,
    strategy: str = _STRATEGY,
    symbol: str = _SYMBOL,
    timeframe: str = _TF,
    exchange: str | None = typer.Option(None, "--exchange", help="ccxt exchange polled (default: [data] exchange)."),
    param: list[str] | None = _PARAM,
    fees: float | None = _FEES,
    slippage: float | None = _SLIP,
    execution: str | None = _EXEC,
    direction: str = _DIR,
    init_cash: float | None = _CASH,
    warmup: int | None = _WARMUP,
    poll: float = _POLL,
    max_bars: int | None = _MAXB,
    quiet: bool = _QUIET,
    live: bool = _OLD_LIVE,
    venue: str = VENUE_OPTION,
    sim_url: str | None = SIM_URL_OPTION,
) -> None:
    """Shadow-trade a strategy on real market data polled from the exchange; orders are simulated, never sent."""
    _run(ctx, "shadow", strategy=strategy, symbol=symbol, timeframe=timeframe, exchange=exchange, param=param,
         fees=fees, slippage=slippage, execution=execution, direction=direction, init_cash=init_cash,
         replay=None, speed=0.0, poll_exchange=True, warmup=warmup, poll=poll, max_bars=max_bars, quiet=quiet,
         venue=venue, sim_url=sim_url)


# -- run logs --------------------------------------------------------------------------------------
@runs_app.command("list")
def runs_list(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", help="Newest runs shown (0: all)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List session runs, newest first (a 'running' run whose process is gone shows as crashed)."""
    from peaktrade.live.runlog import list_runs

    cfg = load_cfg(ctx.obj)
    runs = list_runs(cfg.runs_dir)
    if as_json:
        shown = runs if limit <= 0 else runs[:limit]
        print_json({"runs_dir": str(cfg.runs_dir), "total": len(runs), "runs": [
            {"run_id": r.run_id, "environment": r.environment, "strategy": r.strategy, "symbol": r.symbol,
             "status": r.status, "started_at": r.started_at, "events": r.n_events, "final_equity": r.final_equity}
            for r in shown]})
        return
    if not runs:
        _say(f"no runs in {cfg.runs_dir}")
        return
    shown = runs if limit <= 0 else runs[:limit]
    _say(f"Runs in {cfg.runs_dir}" + (f" (newest {len(shown)} of {len(runs)})" if len(shown) < len(runs) else ""))
    rows = [[r.run_id, r.environment, r.strategy, r.symbol, r.status, _short_time(r.started_at), f"{r.n_events:,}",
             "-" if r.final_equity is None else f"{r.final_equity:,.2f}"] for r in shown]
    # plain aligned columns, not a rich table: run ids stay whole and copyable at any terminal width
    for line in _columns(["id", "environment", "strategy", "symbol", "status", "start", "events", "final equity"],
                         rows, right={6, 7}):
        _say(line)


def _columns(header: list[str], rows: list[list[str]], *, right: set[int] = frozenset()) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [fmt(header), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)]


def _run_options(run_dir: Any) -> Any:
    from peaktrade.live.runlog import read_meta

    return read_meta(run_dir).get("options")


def _costs_line(options: Any) -> str:
    from peaktrade.backtest.options import describe_options

    return describe_options(options) if isinstance(options, dict) and options else "-"


@runs_app.command("show")
def runs_show(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    events: int = typer.Option(10, "--events", help="Last events shown."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a run: metadata, summary and its last events."""
    from peaktrade.live.runlog import find_run, read_events, run_info

    cfg = load_cfg(ctx.obj)
    info = run_info(find_run(cfg.runs_dir, run_id))
    m = info.meta
    if as_json:
        log = read_events(info.run_dir)
        print_json({"run_id": info.run_id, "status": info.status, "run_dir": str(info.run_dir),
                    "events_total": len(log.events), "final_equity": info.final_equity, "meta": m,
                    "events": log.events[-events:] if events > 0 else []})
        return
    status = info.status + (f" (meta says {m.get('status')}; pid {m.get('pid')} is gone)"
                            if info.status != m.get("status") else "")
    replay = m.get("replay") or {}
    rows = [
        ("status", status), ("environment", m.get("environment")), ("mode", m.get("mode")),
        ("strategy", m.get("strategy")), ("params", json.dumps(m.get("params"))), ("symbol", m.get("symbol")),
        ("timeframe", m.get("timeframe")), ("exchange", m.get("exchange")),
        ("options", json.dumps(m.get("options"))), ("costs", _costs_line(m.get("options"))), ("checks", ", ".join(m.get("checks") or []) or "none"),
        ("replay", f"{_short_time(replay.get('start'))} → {_short_time(replay.get('end'))}, "
                   f"{replay.get('bars')} bars, speed {replay.get('speed')}" if replay else "-"),
        ("warm-up bars", (m.get("warmup") or {}).get("bars")),
        ("config hash", m.get("config_hash")), ("code version", m.get("code_version")),
        ("started", m.get("started_at")), ("ended", m.get("ended_at") or "-"),
        ("pid / host", f"{m.get('pid')} / {m.get('host')}"), ("events", f"{info.n_events:,}"),
        ("run dir", str(info.run_dir)),
    ]
    if m.get("error"):
        rows.insert(1, ("error", m["error"]))
    _say(f"run {info.run_id}")
    for k, v in rows:
        _say(f"  {k:<16}{'-' if v is None else v}")
    summary = m.get("summary")
    if summary:
        _say("summary")
        for k, v in summary.items():
            if k != "trades":
                _say(f"  {k:<20}{_num(v) if not isinstance(v, str) else _short_time(v) if 'T' in v else v}")
    elif info.final_equity is not None:
        why = "the process died before writing one" if info.status == "crashed" else "the run is not over"
        _say(f"no summary ({why}); last equity {info.final_equity:,.2f}")
    log = read_events(info.run_dir)
    if log.truncated_tail is not None:
        _warn(f"the last line ({log.truncated_line}) of {log.path} is incomplete (an event in flight when the "
              f"writer stopped): {log.truncated_tail[:60]!r}")
    if events > 0 and log.events:
        _say(f"last {min(events, len(log.events))} of {len(log.events):,} events:")
        for ev in log.events[-events:]:
            _say(event_line(ev))


@runs_app.command("tail")
def runs_tail(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    lines: int = typer.Option(10, "--lines", "-n", help="Events printed first (the last N)."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events until the run ends."),
    timeout: float | None = typer.Option(None, "--timeout", help="With --follow: stop after this many seconds."),
    interval: float = typer.Option(0.5, "--interval", help="With --follow: seconds between checks."),
    as_json: bool = typer.Option(False, "--json", help="Print events as JSON lines."),
) -> None:
    """Print a run's last events; with --follow, print new ones as they are appended."""
    from peaktrade.live.runlog import FINAL_STATUSES, EventTail, effective_status, find_run, read_meta

    cfg = load_cfg(ctx.obj)
    run_dir = find_run(cfg.runs_dir, run_id)
    show = (lambda ev: _say(json.dumps(ev))) if as_json else (lambda ev: _say(event_line(ev)))
    tail = EventTail(run_dir)
    first = tail.poll()
    for ev in first[-lines:] if lines > 0 else []:
        show(ev)
    if not follow:
        if tail.pending:
            _warn(f"the last line of {tail.path} is incomplete (an event in flight, or the writer died mid-line)")
        return
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            done = effective_status(read_meta(run_dir)) in FINAL_STATUSES
            for ev in tail.poll():
                show(ev)
            if done:
                _say(f"run {run_dir.name} is {effective_status(read_meta(run_dir))}")
                return
            if deadline is not None and time.monotonic() >= deadline:
                err_console.print(f"--timeout {timeout:g} s reached; run {run_dir.name} is still running",
                                  highlight=False, soft_wrap=True, markup=False)
                return
            time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))
    except KeyboardInterrupt:
        return


@runs_app.command("resume")
def runs_resume(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="A crashed or stopped testnet or live run (a unique prefix is enough)."),
    confirm: str | None = typer.Option(None, "--confirm", help="A live run: LIVE-<hash8> (see `peaktrade live "
                                                                "gates`); a live resume opens every gate again."),
    duration: float | None = typer.Option(None, "--duration", help="Seconds to run on (default: the profile's)."),
    warmup: int = typer.Option(100, "--warmup", help="Completed bars of indicator history."),
    poll: float = typer.Option(5.0, "--poll", help="Longest wait between polls, in seconds."),
    max_bars: int | None = typer.Option(None, "--max-bars", help="End after this many more traded bars."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Resume a crashed testnet or live run: rebuild its ledger from the run log, book the fills the venue made
    while it was down, check the books against the venue's balances, and continue under the same run id. A live
    run is a live start: every live gate (--confirm), readiness and the ramp again before any order."""
    from peaktrade.live.resume import resume_run

    cfg = load_cfg(ctx.obj)

    def on_event(ev: dict[str, Any]) -> None:
        p = ev["payload"]
        if not as_json and (ev["type"] in ("order", "fill", "denial")
                            or (ev["type"] == "session" and p.get("event") not in ("start", "end"))):
            _say(event_line(ev))

    res = resume_run(run_id, config=cfg, confirm=confirm, duration=duration, warmup=warmup, poll_interval=poll,
                     max_bars=max_bars, on_event=on_event)
    from peaktrade.live.runner import LiveResult

    environment = "live" if isinstance(res, LiveResult) else "testnet"
    mlflow_run_id = None
    if environment == "testnet":  # the caller logs (the trading layer never imports tracking), as `testnet run`
        from peaktrade.tracking.session_runs import log_testnet_run

        mlflow_run_id = log_testnet_run(res, config=cfg)  # the whole run, its crashed part included
    s = res.summary
    if as_json:
        print_json({"run_id": res.run_id, "status": res.status, "run_dir": str(res.run_dir), "summary": s,
                    "mlflow_run_id": mlflow_run_id})
        return
    _say(f"{environment} run {res.run_id} resumed: {res.status}")
    for k, v in (("bars", s["bars"]), ("orders / fills / denials", f"{s['n_orders']} / {s['n_fills']} / {s['n_denials']}"),
                 ("final equity", f"{s['final_equity']:,.2f}"), ("position", f"{s['position']:.6g}"),
                 ("mlflow run", mlflow_run_id or "-"), ("run log", str(res.run_dir))):
        _say(f"  {k:<26}{v}")


def register(app: typer.Typer) -> None:
    """Add the ``paper``, ``shadow`` and ``runs`` command groups to the root app."""
    app.add_typer(paper_app, name="paper", help="Paper trading: replayed or polled bars, simulated orders.")
    app.add_typer(shadow_app, name="shadow", help="Shadow trading: polled market data, orders simulated, never sent.")
    app.add_typer(runs_app, name="runs", help="List, show, tail and resume session run logs.")
