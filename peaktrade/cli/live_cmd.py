"""``peaktrade live gates|readiness|run``: the real-money environment (docs/safety.md)."""

from __future__ import annotations

import typer

from peaktrade.cli._common import console, load_cfg

live_app = typer.Typer(no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``live`` command group to the root app."""
    app.add_typer(live_app, name="live", help="Live (real-money) trading: the live gates, the readiness check, a live session.")


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@live_app.command("gates")
def gates(
    ctx: typer.Context,
    confirm: str | None = typer.Option(None, "--confirm", help="Token to check against this config."),
) -> None:
    """Show each live gate and whether it is open (exit 1 when any is closed). Prints no secrets."""
    from peaktrade.safety import arm_value, confirm_token, live_gates, resolved_state_dir

    cfg = load_cfg(ctx.obj)
    results = live_gates(cfg, confirm=confirm)
    _say(f"live gates for {cfg.source} (config hash {cfg.config_hash()}):")
    for i, r in enumerate(results, 1):
        _say(f"  {i}. {r.name:<14} {'open' if r.open else 'CLOSED':<7} {r.detail}")
    _say(f"state dir (kill switch, ramp, session lock): {resolved_state_dir(cfg)}")
    _say(f"arm this config and state dir for one process: {cfg.live.arm_env}={arm_value(cfg)}")
    _say(f"confirm token for this config and state dir:   --confirm {confirm_token(cfg)}")
    if not all(r.open for r in results):
        raise typer.Exit(1)


@live_app.command("run")
def run(
    ctx: typer.Context,
    strategy: str = typer.Option(..., "--strategy", help="Strategy name."),
    symbol: str = typer.Option(..., "--symbol", help="Market symbol, e.g. BTC/USD."),
    timeframe: str = typer.Option(..., "--timeframe", help="Bar timeframe, e.g. 1h."),
    notional: float = typer.Option(..., "--notional", help="Quote currency per entry order (at most the [live.ramp] "
                                                           "cap while the ramp lasts)."),
    confirm: str | None = typer.Option(None, "--confirm", help="LIVE-<hash8> (see `peaktrade live gates`)."),
    param: list[str] | None = typer.Option(None, "--param", help="Strategy parameter NAME=VALUE (repeatable)."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after this many seconds (default: run "
                                                                   "until Ctrl-C)."),
    max_bars: int | None = typer.Option(None, "--max-bars", help="Stop after this many traded bars."),
    warmup: int = typer.Option(100, "--warmup", help="Completed bars loaded as indicator history (never traded)."),
    catch_up: int = typer.Option(0, "--catch-up", help="Trade the last N completed bars right away (at the "
                                                        "venue's prices now)."),
    poll: float = typer.Option(5.0, "--poll-interval", help="Longest wait between polls (seconds)."),
) -> None:
    """Trade real money: every live gate open (readiness = the full `live readiness` list), then orders at the
    venue through the live checks and the [live.ramp] cap. Ctrl-C stops after the current bar."""
    from peaktrade.cli._common import parse_kv
    from peaktrade.cli.session_cmd import event_line
    from peaktrade.live.runner import run_live_session

    cfg = load_cfg(ctx.obj)

    def on_event(ev: dict) -> None:
        p = ev["payload"]
        if ev["type"] == "session" and p.get("event") == "start":
            _say(f"live session {p['run_id']}: {p['strategy']} on {p['symbol']} {p['timeframe']} at {p['venue']}; "
                 f"{p['ramp']}; Ctrl-C stops after the current bar")
        elif ev["type"] in ("order", "fill", "denial") or (ev["type"] == "session" and p.get("event") != "end"):
            _say(event_line(ev))

    res = run_live_session(strategy, symbol=symbol, timeframe=timeframe, confirm=confirm, order_notional=notional,
                           config=cfg, params=parse_kv(param, option="--param"), duration=duration,
                           max_bars=max_bars, warmup=warmup, catch_up=catch_up, poll_interval=poll,
                           on_event=on_event)
    s = res.summary
    _say(f"live run {res.run_id}: {res.status}")
    _say(f"  orders / fills / denials   {s['n_orders']} / {s['n_fills']} / {s['n_denials']}")
    _say(f"  position                   {s['position']:.6g}")
    _say(f"  run log                    {res.run_dir}")


@live_app.command("readiness")
def readiness(
    ctx: typer.Context,
    strategy: str = typer.Option(..., "--strategy", help="Strategy name."),
    symbol: str = typer.Option(..., "--symbol", help="Market symbol, e.g. BTC/USD."),
    timeframe: str = typer.Option(..., "--timeframe", help="Bar timeframe, e.g. 1h."),
    as_json: bool = typer.Option(False, "--json", help="Print {\"venue\", \"passed\", \"checks\": [{name, status, "
                                                       "reason}]}."),
) -> None:
    """Check everything a live session needs, read-only against the live venue: pass/fail/skip per check with a
    reason (exit 1 when any fails). Sends no order; arms the account's dead-man switch and sends a test alert."""
    from peaktrade.cli._common import print_json
    from peaktrade.live.readiness import live_readiness

    cfg = load_cfg(ctx.obj)
    report = live_readiness(cfg, strategy=strategy, symbol=symbol, timeframe=timeframe)
    if as_json:
        print_json(report.to_dict())
    else:
        _say(f"live readiness of {strategy} on {symbol} {timeframe} against the {report.venue}:")
        for c in report.checks:
            _say(f"  {c.name:<22} {c.status.upper():<5} {c.reason}")
        _say("ready" if report.passed else "NOT READY: " + ", ".join(c.name for c in report.checks
                                                                     if c.status == "fail"))
    if not report.passed:
        raise typer.Exit(1)
