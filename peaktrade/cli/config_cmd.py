"""``peaktrade config``: show the effective configuration, secrets masked."""

from __future__ import annotations

import json

import typer

from peaktrade.cli._common import console, load_cfg

app = typer.Typer(no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective configuration (sanitized: secrets masked), its source and hash."""
    cfg = load_cfg(ctx.obj)
    out = {"source": cfg.source, "root": str(cfg.root), "config_hash": cfg.config_hash(), **cfg.sanitized()}
    console.print_json(json.dumps(out, default=str))


def register(root: typer.Typer) -> None:
    """Add the ``config`` group to the root app."""
    root.add_typer(app, name="config", help="Show the effective configuration.")
