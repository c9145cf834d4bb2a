"""``peaktrade strategies``: list every strategy with its source, describe one, write a new one."""

from __future__ import annotations

import keyword
from importlib import resources

import typer
from rich.markup import escape
from rich.table import Table

from peaktrade.cli._common import JSON_OPTION, console, load_cfg, print_json
from peaktrade.errors import StrategyError, bad_value

app = typer.Typer(no_args_is_help=True)


def _param_doc(p) -> dict:
    return {"name": p.name, "type": p.kind, "default": p.default, "low": p.low, "high": p.high,
            "step": p.step, "choices": list(p.choices), "help": p.help}


def _strategy_doc(s, source: str) -> dict:
    """A strategy as a JSON-ready dict (the keys of ``strategies list --json`` and ``show --json``)."""
    return {"name": s.name, "source": source, "summary": s.summary, "params": [_param_doc(p) for p in s.params],
            "constraints": [c.text for c in s.constraints], "stop_defaults": dict(s.stop_defaults or {}),
            "warmup": s.warmup, "direction": getattr(s, "direction", None)}


@app.command("list")
def list_cmd(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Print every strategy: name, source (library, file path, package), summary and parameters."""
    from peaktrade.strategies import list_strategies, strategy_source

    if as_json:
        print_json({"strategies": [_strategy_doc(s, strategy_source(s.name))
                                   for s in list_strategies(config=load_cfg(ctx.obj))]})
        return
    table = Table(title="strategies", show_lines=False)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("source", overflow="fold")
    table.add_column("summary")
    table.add_column("params")
    for s in list_strategies(config=load_cfg(ctx.obj)):
        params = ", ".join(f"{p.name}={p.default!r}" for p in s.params)
        table.add_row(s.name, escape(strategy_source(s.name)), escape(s.summary), escape(params))
    console.print(table)


@app.command("new")
def new_cmd(ctx: typer.Context,
            name: str = typer.Argument(..., help="Name of the new strategy (an identifier, e.g. my_cross)."),
            numba: bool = typer.Option(False, "--numba", help="Write the prepare + signal_nb (numba) template "
                                                               "instead of the pandas one.")) -> None:
    """Write a working strategy template ``NAME.py`` into the first ``[strategies] paths`` folder."""
    from peaktrade.strategies.registry import LIBRARY

    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise StrategyError(bad_value("NAME", name, "a Python identifier not starting with '_' (e.g. my_cross)"))
    if name in LIBRARY:
        raise StrategyError(f"NAME={name!r} is taken by the library strategy of that name: choose another")
    cfg = load_cfg(ctx.obj)
    folder = cfg.strategy_dirs[0] if cfg.strategy_dirs else None
    if folder is None:
        raise StrategyError("[strategies] paths is empty: expected at least one folder to write into")
    path = folder / f"{name}.py"
    if path.exists():
        raise StrategyError(f"{path} already exists: refusing to overwrite it (choose another NAME or delete it)")
    template = "numba_strategy.py.tmpl" if numba else "pandas_strategy.py.tmpl"
    text = resources.files("peaktrade.strategies").joinpath("templates", template).read_text(encoding="utf-8")
    cls = "".join(w[:1].upper() + w[1:] for w in name.split("_") if w) + "Strategy"
    folder.mkdir(parents=True, exist_ok=True)
    from peaktrade._files import atomic_write_text  # here: _files imports pandas, which `peaktrade --help` needs not

    atomic_write_text(path, text.format(name=name, cls=cls))
    console.print(f"wrote {escape(str(path))} ({'numba' if numba else 'pandas'} level); try: "
                  f"peaktrade backtest {name} --exchange synthetic", highlight=False, soft_wrap=True)


@app.command("show")
def show_cmd(ctx: typer.Context,
             name: str = typer.Argument(..., help="Strategy name (see `peaktrade strategies list`)."),
             as_json: bool = JSON_OPTION) -> None:
    """Print a strategy's parameters (``name: type = default in [low, high]  # help``), constraints, stop defaults."""
    from peaktrade.strategies import get_strategy, strategy_source

    s = get_strategy(name, config=load_cfg(ctx.obj))  # unknown name: StrategyError, printed by main() as one line
    if as_json:
        print_json(_strategy_doc(s, strategy_source(s.name)))
        return
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
    d = getattr(s, "direction", None)
    out(f"direction: {d} (declared: backtests trade it unless told otherwise)" if d else
        "direction: any (the backtest's direction option, default from config)", highlight=False)
    if s.warmup:
        out(f"warm-up: {s.warmup} bars", highlight=False)


def register(root: typer.Typer) -> None:
    """Add the ``strategies`` group to the root app."""
    root.add_typer(app, name="strategies", help="List and describe strategies.")
