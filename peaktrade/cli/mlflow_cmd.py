"""``peaktrade mlflow ui``, ``mlflow server`` and ``mlflow runs``: the MLflow UI on the project's store, a shared
tracking server (PostgreSQL or SQLite store, proxied artifacts), and recent runs."""

from __future__ import annotations

import math
import os
import shlex
import signal
import subprocess
import time

import typer

from peaktrade.cli._common import load_cfg

app = typer.Typer(no_args_is_help=True, help="MLflow UI, a shared tracking server, and recent runs of the tracking store.")


@app.command("ui")
def ui(
    ctx: typer.Context,
    port: int = typer.Option(5000, "--port", min=1, max=65535, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Server worker processes."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the command and the URL only."),
) -> None:
    """Serve the MLflow UI on the project's store and print its URL (Ctrl-C, SIGTERM, SIGHUP or SIGQUIT stops it and its workers)."""
    from peaktrade.tracking import artifact_root, ui_command
    from peaktrade.tracking._store import redact_uri

    cfg = load_cfg(ctx.obj)
    cmd, url = ui_command(cfg, host=host, port=port, workers=workers)
    typer.echo(f"command: {shlex.join(redact_uri(c) for c in cmd)}")
    typer.echo(f"MLflow UI: {url}")
    if dry_run:
        return
    artifact_root(cfg).mkdir(parents=True, exist_ok=True)
    from peaktrade._telemetry import TELEMETRY_OFF

    _serve(cmd, TELEMETRY_OFF, "MLflow UI")  # the UI server never phones home


@app.command("server")
def server(
    ctx: typer.Context,
    backend_store_uri: str | None = typer.Option(
        None, "--backend-store-uri", show_default=False,
        help="Store of runs: postgresql://USER[:PASSWORD]@HOST:PORT/DB or sqlite:///FILE (else $MLFLOW_BACKEND_STORE_URI, "
             "else [tracking_server] backend_store_uri, else the project's [tracking] store). Shown redacted."),
    artifacts_destination: str | None = typer.Option(
        None, "--artifacts-destination", show_default=False,
        help="Artifacts: a directory or s3://BUCKET/PATH (else $MLFLOW_ARTIFACTS_DESTINATION, else "
             "[tracking_server] artifacts_destination, else [tracking] artifacts)."),
    host: str | None = typer.Option(None, "--host", show_default=False,
                                    help="Address to bind (else $MLFLOW_HOST, else [tracking_server] host: 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, show_default=False,
                                    help="Port (else $MLFLOW_PORT, else [tracking_server] port: 5000)."),
    workers: int | None = typer.Option(None, "--workers", min=1, max=64, show_default=False,
                                       help="Server worker processes (else $MLFLOW_WORKERS, else [tracking_server] workers)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the command and the URL only (nothing is checked)."),
) -> None:
    """Serve a shared MLflow tracking server (PostgreSQL or SQLite store, proxied artifacts) and print its URL.

    Clients log to it with MLFLOW_TRACKING_URI=<URL>. Ctrl-C, SIGTERM, SIGHUP or SIGQUIT stops it and its workers."""
    from peaktrade.tracking import server_command

    cfg = load_cfg(ctx.obj)
    plan = server_command(cfg, backend_store_uri=backend_store_uri, artifacts_destination=artifacts_destination,
                          host=host, port=port, workers=workers, check=not dry_run)
    typer.echo(f"command: {plan.shown}")
    typer.echo(f"backend store: {plan.backend}")
    typer.echo(f"artifacts: {plan.artifacts}")
    typer.echo(f"MLflow server: {plan.url}  (clients: export MLFLOW_TRACKING_URI={plan.url})")
    if dry_run:
        return
    _serve(plan.cmd, plan.env, "MLflow server")  # the backend URI goes by the environment: never in argv


def _serve(cmd: list[str], env: dict[str, str], name: str) -> None:
    """Run ``cmd`` with ``env`` added until it exits or we are told to stop; then stop its whole group."""
    # The server runs in its own session, so its gunicorn/uvicorn workers form one process group we
    # can stop as a whole; Ctrl-C (SIGINT) and SIGTERM both reach us and we stop that group.
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, start_new_session=True)
    # Being in its own session, the server gets no SIGHUP when the terminal closes: every signal that
    # ends us (SIGTERM, SIGHUP, SIGQUIT; SIGINT raises KeyboardInterrupt already) stops the group first.
    previous = {s: signal.signal(s, _raise_interrupt) for s in _STOP_SIGNALS}
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        _stop_group(proc)
        typer.echo(f"{name} stopped")
        return
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if code:
        raise typer.Exit(code)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM, SIGHUP and SIGQUIT stop the UI the way Ctrl-C does


def _stop_group(proc: subprocess.Popen, *, grace: float = 10.0) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL after ``grace`` seconds.

    Signals arriving meanwhile are ignored, so a second Ctrl-C cannot orphan the workers."""
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, *_STOP_SIGNALS)}
    try:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break  # the group is gone already
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            # the leader is gone; its workers may still be shutting down: wait for the group to empty
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(proc.pid):
                time.sleep(0.05)
            if not _group_alive(proc.pid):
                break
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.4g}"
    return str(v)


@app.command("runs")
def runs(
    ctx: typer.Context,
    experiment: str | None = typer.Option(
        None, "--experiment", help="Experiment (default: every experiment; each spec of `experiment run` has its own)."),
    limit: int = typer.Option(20, "--limit", min=1, help="Runs to list, newest first."),
) -> None:
    """List the most recent runs: id, name, status, kind and key metrics."""
    from peaktrade.tracking import recent_runs, tracking_uri
    from peaktrade.tracking._store import redact_uri

    cfg = load_cfg(ctx.obj)
    df = recent_runs(cfg, experiment=experiment or "*", limit=limit)
    where = f"experiment {experiment!r}" if experiment else "every experiment"
    if df.empty:
        typer.echo(f"no runs in {where} ({redact_uri(tracking_uri(cfg))})")
        return
    metric_cols = [c for c in df.columns
                   if c not in ("run_id", "name", "status", "start", "kind", "parent", "experiment")]
    # plain lines, not a table: run ids stay whole and copyable at any terminal width
    typer.echo(f"{len(df)} most recent runs of {where} ({redact_uri(tracking_uri(cfg))}), newest first:")
    for _, r in df.iterrows():
        start = r["start"].strftime("%Y-%m-%d %H:%M") if hasattr(r["start"], "strftime") else "-"
        kind = (r["kind"] or "-") + (f" of {r['parent']}" if r["parent"] else "")  # ids whole, never cut
        exp = "" if experiment else f"[{r['experiment']}]  "
        typer.echo(f"{r['run_id']}  {r['status']:<8}  {start}  {exp}{kind}  {r['name']}")
        metrics = "  ".join(f"{c}={_fmt(r[c])}" for c in metric_cols if _fmt(r[c]))
        if metrics:
            typer.echo(f"    {metrics}")
    if "pbo" in metric_cols:
        typer.echo("pbo: CSCV probability of backtest overfitting (share of IS/OOS splits whose IS-best ranks at "
                   "or below the OOS median, w = rank/(N+1), ties at the average rank); compare it with "
                   "pbo_null_mean, its value without skill: 0.5 + 1/(2N) for odd N, 0.5 for even N")


def register(root: typer.Typer) -> None:
    """Add the ``mlflow`` command group to the root app."""
    root.add_typer(app, name="mlflow", help="MLflow UI, a shared tracking server, and recent tracked runs.")
