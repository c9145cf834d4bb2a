"""``peaktrade strategies``: list the library strategies and describe one."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from peaktrade.cli._common import console

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_cmd() -> None:
    """Print every registered strategy: name, summary and parameters with defaults."""
    from peaktrade.strategies import list_strategies

    table = Table(title="strategies", show_lines=False)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("summary")
    table.add_column("params")
    for s in list_strategies():
        params = ", ".join(f"{p.name}={p.default!r}" for p in s.params)
        table.add_row(s.name, escape(s.summary), escape(params))
    console.print(table)


@app.command("show")
def show_cmd(name: str = typer.Argument(..., help="Strategy name (see `peaktrade strategies list`).")) -> None:
    """Print a strategy's parameters (``name: type = default in [low, high]  # help``), constraints, stop defaults."""
    from peaktrade.strategies import get_strategy

    s = get_strategy(name)  # unknown name: StrategyError, printed by main() as one line
    out = console.print
    out(f"[bold]{s.name}[/]: {escape(s.summary)}", soft_wrap=True)
    out("parameters:")
    for p in s.params:
        out(f"  {escape(p.describe())}", highlight=False, soft_wrap=True)
    out("constraints:" + ("" if s.constraints else " none"))
    for c in s.constraints:
        out(f"  {escape(c.text)}", highlight=False, soft_wrap=True)
    if s.stop_defaults:
        shown = ", ".join(f"{k}={v!r}" for k, v in s.stop_defaults.items())
        out(f"stop defaults: {escape(shown)}", highlight=False, soft_wrap=True)
    else:
        out("stop defaults: none (sl_stop, tp_stop, sl_trail accepted as backtest options)",
            highlight=False, soft_wrap=True)
