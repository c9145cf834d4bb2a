"""``peaktrade alerts``: test alert destinations, list event kinds, show undelivered alerts."""

from __future__ import annotations

import json

import typer

from peaktrade.cli._common import load_cfg, print_json
from peaktrade.errors import PeakTradeError

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="Alert destinations (PEAKTRADE_ALERT_URLS) and rules ([alerts]).")


def register(root: typer.Typer) -> None:
    """Add the ``alerts`` command group to the root app."""
    root.add_typer(app, name="alerts", help="Test alert destinations, list event kinds, show undelivered alerts.")


@app.command("test")
def alerts_test(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Send a test alert to every destination of PEAKTRADE_ALERT_URLS and report each result (exit 1 if any failed).

    Destinations are shown as their scheme and position (e.g. tgram#2), or scheme://host for webhook and mail
    servers: their URLs hold secrets."""
    from peaktrade.alerts import destinations_from_config, send_test

    cfg = load_cfg(ctx.obj)
    dests = destinations_from_config(cfg)
    if not dests:
        raise PeakTradeError("no alert destinations: set PEAKTRADE_ALERT_URLS (comma-separated apprise URLs) in "
                             "the environment or the project's .env (see docs/monitoring.md)")
    results = send_test(dests, timeout=cfg.alerts.timeout_seconds)
    if as_json:
        print_json([{"destination": r.destination, "ok": r.ok, "attempts": r.attempts, "error": r.error}
                    for r in results])
    else:
        for r in results:
            typer.echo(f"ok      {r.destination}" if r.ok else f"FAILED  {r.destination}: {r.error}")
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command("kinds")
def alerts_kinds() -> None:
    """List the event kinds (for [alerts] events) with their default severity."""
    from peaktrade.alerts import DEFAULT_SEVERITY

    for kind, sev in DEFAULT_SEVERITY.items():
        typer.echo(f"{kind.value:<22}{sev.label}")


@app.command("dead-letter")
def alerts_dead_letter(
    ctx: typer.Context,
    last: int = typer.Option(20, "--last", min=1, help="Show the last N undelivered alerts."),
) -> None:
    """Show alerts that could not be delivered (the dead-letter file in the state directory)."""
    from peaktrade.alerts.dispatch import DEAD_LETTER_FILE, shown_label

    cfg = load_cfg(ctx.obj)
    path = cfg.state_dir / DEAD_LETTER_FILE
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    typer.echo(f"{len(lines)} undelivered alert(s) in {path}")
    for raw in lines[-last:]:
        try:
            d = json.loads(raw)
        except ValueError:
            continue
        ev = d.get("event", {})
        typer.echo(f"{d.get('failed_at')}  {shown_label(d.get('destination')) or '-':<28}  {ev.get('kind')}  {ev.get('run_id')}"
                   f"  ({d.get('error')})")
