"""``peaktrade schedule add|list|remove|run``: experiment specs and testnet notebooks on a timer
(docs/scheduling.md)."""

from __future__ import annotations

import typer

from peaktrade.cli._common import JSON_OPTION, console, load_cfg, print_json
from peaktrade.errors import PeakTradeError

app = typer.Typer(no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Add the ``schedule`` command group to the root app."""
    root.add_typer(app, name="schedule", help="Run experiment specs and testnet notebooks on a timer (systemd or cron).")


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    target: str = typer.Argument(..., metavar="SPEC_OR_PROFILE",
                                 help="An experiment spec (.toml) or a testnet profile ([testnet.profiles.NAME])."),
    every: str | None = typer.Option(None, "--every", help="Clock-aligned period: Nm (N divides 60), Nh (N divides "
                                                           "24) or 1d."),
    cron: str | None = typer.Option(None, "--cron", help="Five cron fields, e.g. '30 * * * *', or @hourly, @daily."),
    name: str | None = typer.Option(None, "--name", help="Schedule name (default: the spec's name, or "
                                                         "testnet-PROFILE)."),
    backend: str | None = typer.Option(None, "--backend", help="auto, systemd or cron (default: [schedule] backend)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the units or the crontab line; install nothing."),
) -> None:
    """Install a schedule: a systemd user timer (Persistent=true) or a crontab line wrapped in flock.

    Each run is `peaktrade schedule run NAME`: `experiment run SPEC` or `testnet orchestrate --profile P --notebook`
    in this project, never two at once, every MLflow run it makes tagged peaktrade.schedule=NAME."""
    from peaktrade.schedule import add_schedule, plan_schedule, render_cron_line, render_units, schedule_dir
    from peaktrade.schedule import cron as cron_timing
    from peaktrade.schedule import every as every_timing

    if (every is None) == (cron is None):
        raise PeakTradeError("give exactly one of --every PERIOD and --cron EXPR")
    cfg = load_cfg(ctx.obj)
    timing = every_timing(every) if every is not None else cron_timing(cron or "")
    s = plan_schedule(cfg, target, timing, name=name, backend=backend)
    _say(f"schedule {s.name}: {s.target_text}, {timing.text} ({s.backend})")
    if dry_run:
        if s.backend == "systemd":
            for fname, text in render_units(s).items():
                _say(f"# {fname}\n{text}")
        else:
            d = schedule_dir(cfg)
            _say(render_cron_line(s, lock_dir=d, log=d / f"{s.name}.log"))
        _say("dry run: nothing installed")
        return
    for line in add_schedule(cfg, s):
        _say(f"  {line}")


@app.command("list")
def list_cmd(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List the schedules: timing, what runs, where installed, the last run."""
    from peaktrade.schedule import list_schedules

    rows = list_schedules(load_cfg(ctx.obj))
    if as_json:
        print_json({"schedules": rows})
        return
    if not rows:
        _say("no schedules (add one with: peaktrade schedule add SPEC_OR_PROFILE --every 1h)")
    for r in rows:
        last = r["last_run"]
        last_text = f"last run {last['status']} at {last['started']}" if last else "not run yet"
        _say(f"{r['name']:<24} {r['timing']:<22} {r['target']}  [{r['backend']}"
             f"{'' if r['installed'] else ', NOT INSTALLED'}] {last_text}")


@app.command("remove")
def remove_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="Schedule name (see schedule list).")) -> None:
    """Uninstall a schedule (timer or crontab line) and delete its record."""
    from peaktrade.schedule import remove_schedule

    for line in remove_schedule(load_cfg(ctx.obj), name):
        _say(f"  {line}")
    _say(f"schedule {name} removed")


@app.command("run")
def run_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="Schedule name.")) -> None:
    """Run a schedule once now (what its timer runs); skipped while its previous run still runs.

    Exits with the run's exit status (0 when skipped)."""
    from peaktrade.schedule import run_schedule

    res = run_schedule(load_cfg(ctx.obj), name)
    if res.status == "skipped":
        h = res.holder or {}
        _say(f"schedule {name}: skipped, the previous run is still running (pid {h.get('pid', '?')} on "
             f"{h.get('host', '?')}, run {h.get('run', '?')}, since {h.get('started', '?')})")
        return
    _say(f"schedule {name}: run {res.run} {res.status} (exit {res.exit_code}) in {res.seconds:.1f} s")
    if res.exit_code:
        raise typer.Exit(res.exit_code)
