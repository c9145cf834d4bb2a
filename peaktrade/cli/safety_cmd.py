"""``peaktrade kill-switch on|off|status``."""

from __future__ import annotations

import typer

from peaktrade.cli._common import console, load_cfg

kill_app = typer.Typer(no_args_is_help=True)
safety_app = typer.Typer(no_args_is_help=True)

_SCOPE_HELP = "Which switch: all (every environment, the default), paper, shadow, testnet or live."


def register(app: typer.Typer) -> None:
    """Add the ``kill-switch`` command group to the root app."""
    app.add_typer(kill_app, name="kill-switch", help="Engage, release and show the persisted kill switch.")
    app.add_typer(safety_app, name="safety", help="Incident actions on the venue (docs/runbooks.md).")


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _switch(cfg):
    from peaktrade.safety import DecisionLog, KillSwitch

    return KillSwitch(cfg.state_dir, None, log=DecisionLog.from_config(cfg)), cfg.state_dir


def _print_status(cfg) -> None:
    from peaktrade.safety import KillSwitch, TradingEnvironment

    ks, state_dir = _switch(cfg)
    _say(f"kill switch state in {state_dir}:")
    for scope in ("all", *(e.value for e in TradingEnvironment)):
        _say(f"  {scope:<8} {ks.read(scope).describe()}")
    eff = [f"{e.value} {KillSwitch(state_dir, e).state}" for e in TradingEnvironment]
    _say("effective: " + ", ".join(eff))


@kill_app.command("on")
def kill_on(
    ctx: typer.Context,
    reason: str = typer.Option("engaged from the command line", "--reason", help="Why (recorded)."),
    scope: str = typer.Option("all", "--scope", help=_SCOPE_HELP),
    reducing: bool = typer.Option(False, "--reducing", help="Let exposure-reducing orders through (else: none)."),
    confirm: bool = typer.Option(False, "--confirm", help="Needed to move a halted switch to --reducing."),
) -> None:
    """Engage the kill switch: halted (no orders; cancels still pass) or --reducing. Persisted until `off`."""
    from peaktrade.safety import TradingState

    cfg = load_cfg(ctx.obj)
    ks, _ = _switch(cfg)
    state = TradingState.REDUCING if reducing else TradingState.HALTED
    st = ks.engage(reason, state=state, scope=scope, source="command", confirm=confirm)
    _say(f"kill switch engaged: {st.describe()}")
    _print_status(cfg)


@kill_app.command("off")
def kill_off(
    ctx: typer.Context,
    scope: str = typer.Option("all", "--scope", help=_SCOPE_HELP),
    confirm: bool = typer.Option(False, "--confirm", help="Required: resetting lets orders through again."),
    reason: str = typer.Option("", "--reason", help="Why (recorded)."),
) -> None:
    """Release the kill switch of one scope (needs --confirm). Other scopes stay as they are."""
    cfg = load_cfg(ctx.obj)
    ks, _ = _switch(cfg)
    ks.reset(confirm=confirm, scope=scope, reason=reason or "reset from the command line")
    _say(f"kill switch released (scope {scope})")
    _print_status(cfg)


@kill_app.command("status")
def kill_status(ctx: typer.Context) -> None:
    """Show every kill-switch scope and the effective state of each environment."""
    _print_status(load_cfg(ctx.obj))


@safety_app.command("cancel-all")
def cancel_all_cmd(
    ctx: typer.Context,
    # required, no default: an account-wide cancel must name its venue (a forgotten flag must not hit live)
    environment: str = typer.Option(..., "--environment", help="live (the live venue) or testnet (the simulator); "
                                                              "required."),
) -> None:
    """Cancel every open order of the account at the venue now (the degrade ladder's fourth step). Cancels only:
    needs no live authorization and passes in every kill-switch state."""
    from peaktrade.live.runner import cancel_all

    n, where = cancel_all(load_cfg(ctx.obj), environment=environment)
    _say(f"{n} open orders cancelled at {where}")


@safety_app.command("flatten")
def flatten_cmd(
    ctx: typer.Context,
    environment: str = typer.Option("live", "--environment", help="live (the live venue) or testnet (the simulator)."),
    symbol: list[str] = typer.Option([], "--symbol", help="A market to flatten (repeatable); default: every asset held."),
    confirm: str | None = typer.Option(None, "--confirm", help="Live: LIVE-<hash8> of this config (`peaktrade live gates`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Close the positions now (the degrade ladder's last step): cancel resting orders, then one reduce-only market
    order per position. Live needs the live gates (enabled, armed, --confirm; the kill switch may be engaged) and the
    guard refuses, at the wire, any order that would not reduce a position."""
    from dataclasses import asdict

    from peaktrade.cli._common import print_json
    from peaktrade.live.runner import flatten

    res = flatten(load_cfg(ctx.obj), environment=environment, symbols=symbol, confirm=confirm)
    if as_json:
        print_json(asdict(res))
        return
    _say(f"{res.cancelled} open orders cancelled at {res.where}")
    for m in res.markets:
        why = f" ({m['reason']})" if m.get("reason") else ""
        _say(f"{m['symbol']}: position {m['position']:g} → {m['after']:g}: {m['status']}{why}")
    if any(m["status"] not in ("filled", "flat") for m in res.markets):
        raise typer.Exit(1)
