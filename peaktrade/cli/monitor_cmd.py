"""``peaktrade monitor`` (terminal monitor; ``--watch``: the headless watchdog) and ``peaktrade dashboard``."""

from __future__ import annotations

import time

import typer

from peaktrade.cli._common import load_cfg


def register(app: typer.Typer) -> None:
    """Add ``monitor`` and ``dashboard`` to the root app."""
    app.command("monitor")(monitor)
    app.command("dashboard")(dashboard)


def dashboard(
    ctx: typer.Context,
    port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default [monitor] dashboard_port)."),
    host: str = typer.Option(None, "--host", help="Address to bind (default [monitor] dashboard_host, 127.0.0.1)."),
) -> None:
    """Serve the web dashboard (runs, live updates, health at /health); Ctrl-C stops it.

    Actions (kill switch, stop a session) need PEAKTRADE_DASHBOARD_TOKEN; without it they are disabled."""
    from peaktrade.monitor.dashboard import serve

    cfg = load_cfg(ctx.obj)
    host = host or cfg.monitor.dashboard_host
    port = port or cfg.monitor.dashboard_port
    actions = "enabled (bearer token)" if cfg.secrets.dashboard_token is not None else \
        "disabled (no PEAKTRADE_DASHBOARD_TOKEN)"
    typer.echo(f"dashboard: http://{host}:{port}/  health: http://{host}:{port}/health  actions: {actions}")
    serve(cfg, host=host, port=port)


def _watchdog(cfg, on_event=None):
    from peaktrade.alerts import AlertDispatcher
    from peaktrade.monitor import Watchdog

    return Watchdog(cfg.runs_dir, alerts=AlertDispatcher.from_config(cfg), on_event=on_event)


def monitor(
    ctx: typer.Context,
    watch: bool = typer.Option(False, "--watch", help="Run the watchdog only, headless: print and alert each "
                                                     "missed heartbeat (for a service; no terminal UI)."),
    every: float = typer.Option(None, "--every", min=0.05, help="Seconds between checks (default: a quarter of "
                                                                "[monitor] heartbeat_seconds; shorter when a "
                                                                "session heartbeats faster)."),
    duration: float = typer.Option(None, "--duration", min=0, help="--watch: stop after this many seconds."),
) -> None:
    """Show every session (state, equity, P&L, drawdown, position, heartbeat, kill switch, budget); q quits.

    The watchdog runs inside: a session silent for 1.5 heartbeat intervals raises "heartbeat missed" (within
    two intervals of its last event)."""
    from peaktrade.monitor.watchdog import check_every

    cfg = load_cfg(ctx.obj)
    every = every if every is not None else check_every(cfg.monitor.heartbeat_seconds)
    if not watch:
        from peaktrade.monitor.tui import MonitorApp

        MonitorApp(cfg, every=every).run()
        return

    def say(ev) -> None:
        typer.echo(f"{ev.wall}  {ev.severity.label.upper():<8} {ev.kind.value}  {ev.run_id}: {ev.message}")

    dog = _watchdog(cfg, say)
    typer.echo(f"watchdog: {cfg.runs_dir} every {every:g} s (Ctrl-C stops)")
    end = None if duration is None else time.monotonic() + duration
    try:
        while True:
            dog.check()
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                break
            wait = dog.every(every)
            time.sleep(wait if left is None else min(wait, left))
    except KeyboardInterrupt:
        pass
    finally:
        if dog.alerts is not None:
            dog.alerts.close(wait=cfg.alerts.exit_grace_seconds)
