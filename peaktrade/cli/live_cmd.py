"""``peaktrade live gates|readiness|run``: the real-money environment (docs/safety.md)."""

from __future__ import annotations

import typer

from peaktrade.cli._common import console, load_cfg

live_app = typer.Typer(no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``live`` command group to the root app."""
    app.add_typer(live_app, name="live", help="Live (real-money) trading: show the live gates; readiness check; check a live run.")


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@live_app.command("gates")
def gates(
    ctx: typer.Context,
    confirm: str | None = typer.Option(None, "--confirm", help="Token to check against this config."),
) -> None:
    """Show each live gate and whether it is open (exit 1 when any is closed). Prints no secrets."""
    from peaktrade.safety import arm_value, confirm_token, live_gates

    cfg = load_cfg(ctx.obj)
    results = live_gates(cfg, confirm=confirm)
    _say(f"live gates for {cfg.source} (config hash {cfg.config_hash()}):")
    for i, r in enumerate(results, 1):
        _say(f"  {i}. {r.name:<14} {'open' if r.open else 'CLOSED':<7} {r.detail}")
    _say(f"arm this config for one process: {cfg.live.arm_env}={arm_value(cfg)}")
    _say(f"confirm token for this config:   --confirm {confirm_token(cfg)}")
    if not all(r.open for r in results):
        raise typer.Exit(1)


#: What ``live run`` says once every gate is open: what exists and what does not (kept true to the code).
NOT_IMPLEMENTED = ("every live gate is open and the live pre-trade checks were built, but no live session runner "
                   "is implemented yet (sessions run paper and shadow: `peaktrade paper|shadow run`; testnet: "
                   "`peaktrade testnet orchestrate`): nothing was sent, {what} not started")


@live_app.command("run")
def run(
    ctx: typer.Context,
    strategy: str = typer.Option(..., "--strategy", help="Strategy name."),
    symbol: str = typer.Option(..., "--symbol", help="Market symbol, e.g. BTC/USD."),
    timeframe: str = typer.Option(..., "--timeframe", help="Bar timeframe, e.g. 1h."),
    confirm: str | None = typer.Option(None, "--confirm", help="LIVE-<hash8> (see `peaktrade live gates`)."),
) -> None:
    """Check a live session: refused unless every live gate is open; the live runner itself is not implemented."""
    from peaktrade.safety import DecisionLog, SafetyError, assert_live_allowed, build_checks

    cfg = load_cfg(ctx.obj)
    log = DecisionLog.from_config(cfg)
    auth = assert_live_allowed(cfg, confirm=confirm, log=log)
    build_checks("live", config=cfg, executor_kind="exchange", authorization=auth)
    raise SafetyError(NOT_IMPLEMENTED.format(what=f"{strategy} on {symbol} {timeframe}"))


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
