"""``peaktrade testnet budget|orchestrate|ping|smoke-order``: testnet runs against Kraken validate-only
endpoints or the local simulator (docs/testnet.md)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer

from peaktrade.cli._common import console, load_cfg
from peaktrade.errors import PeakTradeError

if TYPE_CHECKING:
    from peaktrade.config import Config

app = typer.Typer(no_args_is_help=True)

_MODE = typer.Option(None, "--mode", help="kraken-validate or kraken-sim (default: [testnet] mode).")


def register(root: typer.Typer) -> None:
    """Add the ``testnet`` command group to the root app."""
    root.add_typer(app, name="testnet", help="Testnet: budgets, profiles, orchestrated runs, ping, smoke order.")


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _budget_lines(u: dict[str, Any]) -> None:
    _say(f"testnet budget for {u['day']} (UTC)")
    _say(f"  daily notional   {u['daily_notional']:>12,.2f} used of {u['max_daily_notional']:,.2f} "
         f"({u['daily_notional_left']:,.2f} left)")
    _say(f"  daily trades     {u['daily_trades']:>12d} used of {u['max_daily_trades']} ({u['daily_trades_left']} left)")
    _say(f"  per run          notional {u['max_run_notional']:,.2f}, trades {u['max_run_trades']}, "
         f"duration {u['max_run_seconds']:g} s")
    _say(f"  symbols          {', '.join(u['symbols'])}")
    for r in u["runs"]:
        _say(f"  run {r['run_id']}  profile={r['profile'] or '-'}  trades={r['trades']}  notional={r['notional']:,.2f}")


@app.command("budget")
def budget_cmd(ctx: typer.Context) -> None:
    """Show today's testnet budget: used and left, per-run caps, allowed symbols, runs of the day."""
    from peaktrade.live.testnet import budget_from_config

    cfg = load_cfg(ctx.obj)
    _budget_lines(budget_from_config(cfg).usage())


def _list_profiles(cfg: Config) -> None:
    from peaktrade.live.budget import BudgetLimits

    if not cfg.testnet.profiles:
        _say("no testnet profiles configured ([testnet.profiles.NAME] in the config)")
    for name, p in sorted(cfg.testnet.profiles.items()):
        lim = BudgetLimits.from_config(cfg, p)
        params = " ".join(f"{k}={v}" for k, v in p.parameters.items()) or "-"
        _say(f"{name:<20} {p.strategy} {params} on {p.symbol} {p.timeframe}; duration {lim.max_run_seconds:g} s, "
             f"max notional {lim.run_notional:,.2f}, max trades {lim.run_trades}")


@app.command("orchestrate")
def orchestrate_cmd(
    ctx: typer.Context,
    list_: bool = typer.Option(False, "--list", help="List the configured profiles."),
    budget: bool = typer.Option(False, "--budget", help="Show today's budget."),
    profile: str | None = typer.Option(None, "--profile", help="Run the profile configured as testnet.profiles.NAME."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check everything and show the plan; send nothing."),
    mode: str | None = _MODE,
    duration: float | None = typer.Option(None, "--duration", help="Seconds (default: the profile's)."),
    warmup: int = typer.Option(100, "--warmup", help="Completed bars of indicator history."),
    catch_up: int = typer.Option(0, "--catch-up", help="Trade the last N completed bars right away."),
    poll: float = typer.Option(5.0, "--poll", help="Longest wait between polls, in seconds."),
    max_bars: int | None = typer.Option(None, "--max-bars", help="End after this many traded bars."),
    notebook: bool = typer.Option(False, "--notebook", help="Run notebooks/60-testnet-session.ipynb with papermill."),
) -> None:
    """List profiles, show the budget, or run a profile as a testnet session within its budget."""
    from peaktrade.live.testnet import budget_from_config, run_notebook, run_testnet_session
    from peaktrade.tracking.session_runs import log_testnet_run

    cfg = load_cfg(ctx.obj)
    if not (list_ or budget or profile):
        raise PeakTradeError("give --list, --budget or --profile NAME")
    if list_:
        _list_profiles(cfg)
    if budget:
        _budget_lines(budget_from_config(cfg).usage())
    if not profile:
        return
    if notebook:
        if dry_run:
            raise PeakTradeError("--notebook and --dry-run are exclusive")
        from peaktrade._env import environ_set
        from peaktrade.experiments.kernel import kernel_config_env

        # the kernel loads its own config: point it at the one this command was given (--config), or it would
        # read another project's (its own state directory and kill switch, profiles, MLflow store)
        with environ_set(kernel_config_env(cfg)):
            out = run_notebook(profile, config=cfg, duration=duration, mode=mode)
        _say(f"notebook executed: {out}")
        return

    def on_event(ev: dict[str, Any]) -> None:
        p, kind = ev["payload"], ev["type"]
        if kind == "session" and p.get("event") == "start":
            _say(f"testnet run {p['run_id']}: profile {p['profile']} ({p['testnet_mode']}) {p['strategy']} on "
                 f"{p['symbol']} {p['timeframe']}, {p['warmup_bars']} warm-up bars, {p['catch_up_bars']} catch-up "
                 f"bars, up to {p['run_seconds']:g} s")
            if p.get("stale_lock"):
                _say(p["stale_lock"])
        elif kind in ("order", "fill", "denial") or (kind == "session" and p.get("event") != "end"):
            from peaktrade.cli.session_cmd import event_line

            _say(event_line(ev))

    res = run_testnet_session(profile, config=cfg, mode=mode, duration=duration, dry_run=dry_run, warmup=warmup,
                              catch_up=catch_up, poll_interval=poll, max_bars=max_bars, on_event=on_event)
    if dry_run:
        plan = res.summary["plan"]
        lim = plan["limits"]
        _say(f"dry run: profile {profile} ({res.mode}) would run {res.summary['strategy']} "
             f"{res.summary['params']} for up to {plan['run_seconds']:g} s")
        _say(f"  endpoint        {plan['url']} (validate-only: {str(plan['validate_only']).lower()})")
        _say(f"  run caps        notional {lim['run_notional']:,.2f}, trades {lim['run_trades']}")
        _say(f"  today left      notional {res.budget['daily_notional_left']:,.2f}, trades {res.budget['daily_trades_left']}")
        _say("  nothing was sent and no run log was written")
        return
    mlflow_run_id = log_testnet_run(res, config=cfg)  # the caller logs: the trading layer never imports tracking
    s = res.summary
    b = res.budget
    _say(f"testnet run {res.run_id}: {res.status}")
    for k, v in (("bars", s["bars"]), ("orders / fills / denials", f"{s['n_orders']} / {s['n_fills']} / {s['n_denials']}"),
                 ("final equity", f"{s['final_equity']:,.2f}"), ("position", f"{s['position']:.6g}"),
                 ("budget used (run)", f"{b.get('run_trades', 0)} trades, {b.get('run_notional', 0.0):,.2f} notional"),
                 ("mlflow run", mlflow_run_id or "-"), ("run log", str(res.run_dir))):
        _say(f"  {k:<26}{v}")


def _client(cfg: Config, mode: str | None):
    from peaktrade.live.testnet import build_client, resolve_mode
    from peaktrade.safety import SafetyGuard

    mode = resolve_mode(cfg, mode)
    guard = SafetyGuard.from_config("testnet", cfg, executor_kind="exchange")
    return mode, build_client(cfg, guard=guard, mode=mode)


@app.command("ping")
def ping_cmd(ctx: typer.Context, mode: str | None = _MODE,
             symbol: str = typer.Option("BTC/USD", "--symbol", help="Market whose ticker is fetched.")) -> None:
    """Public and private round trip: system status, clock skew, ticker, balance (exit 1 when a step fails)."""
    from peaktrade.adapters.errors import ExchangeError

    cfg = load_cfg(ctx.obj)
    mode, client = _client(cfg, mode)
    _say(f"testnet ping ({mode}) {client!r}")
    failed = False

    def step(name: str, fn) -> Any:
        nonlocal failed
        t0 = time.monotonic()
        try:
            out = fn()
        except ExchangeError as e:
            failed = True
            _say(f"  {name:<16} FAIL  {(time.monotonic() - t0) * 1000:7.1f} ms  {type(e).__name__}: {e}")
            return None
        _say(f"  {name:<16} ok    {(time.monotonic() - t0) * 1000:7.1f} ms  {out}")
        return out

    step("system status", lambda: client.fetch_status().get("status"))

    def skew() -> str:
        from peaktrade.live.readiness import clock_skew

        return f"clock skew {clock_skew(client):+.3f} s (server - local; Kraken reports whole seconds)"

    step("time", skew)
    step("ticker", lambda: f"{symbol} last {client.fetch_ticker(symbol).last}")
    step("private balance", lambda: ", ".join(f"{k}={v:g}" for k, v in sorted(client.fetch_balance().total.items()))
         or "(empty)")
    if failed:
        raise typer.Exit(1)


@app.command("smoke")
def smoke_cmd(ctx: typer.Context, mode: str | None = _MODE,
              symbol: str = typer.Option("BTC/USD", "--symbol", help="Market of the checks."),
              as_json: bool = typer.Option(False, "--json", help="Print {\"steps\": [{name, status, reason}]}.")) -> None:
    """The whole stack once: ping, markets, balance, a validate-only order, cancel-all, the dead-man switch, a test
    alert (skipped without PEAKTRADE_ALERT_URLS); pass/fail/skip per step (exit 1 when a step fails). Nothing is
    placed."""
    from peaktrade.cli._common import print_json
    from peaktrade.live.testnet import testnet_smoke

    steps = testnet_smoke(load_cfg(ctx.obj), mode=mode, symbol=symbol)
    if as_json:
        print_json({"steps": [s.__dict__ for s in steps]})
    else:
        for s in steps:
            _say(f"  {s.name:<20} {s.status.upper():<5} {s.reason}")
    if any(s.status == "fail" for s in steps):
        raise typer.Exit(1)


@app.command("smoke-order")
def smoke_order_cmd(ctx: typer.Context, mode: str | None = _MODE,
                    symbol: str = typer.Option("BTC/USD", "--symbol", help="Market of the order."),
                    side: str = typer.Option("buy", "--side", help="buy or sell.")) -> None:
    """Send one minimal validate-only market order through the pipeline and the testnet checks; print the venue's
    description (checked by the venue, never placed)."""
    from peaktrade.live.testnet import smoke_order

    r = smoke_order(load_cfg(ctx.obj), mode=mode, symbol=symbol, side=side)
    q = r.request
    _say(f"smoke order ({r.mode}) validate-only {q.side} {q.quantity:g} {q.symbol} market, "
         f"cl_ord_id {q.client_order_id}: {r.status} (checks passed)")
    _say(f"  venue description: {r.description or '(none)'}")
    _say("  placed: no (validated only)")
