"""Entry point of the ``peaktrade`` command: wires the command groups and turns errors into one line."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from peaktrade import __version__
from peaktrade.cli._common import err_console

#: Every command of the root, in the order ``peaktrade --help`` lists them, with the module (in peaktrade.cli)
#: whose ``register(root)`` adds it; None: defined in this module. A command's module is imported and its
#: click command built only when it runs (or a help page lists it): building all of them (18 modules,
#: 54 commands) took 0.15-0.25 s of every call, ``peaktrade backtest`` included. A new command is named here
#: (tests/misc/test_numba_cold_start.py checks that every command module's commands are).
COMMANDS: dict[str, str | None] = {
    "demo": "research_cmd", "backtest": "research_cmd", "sweep": "research_cmd", "walk-forward": "research_cmd",
    "lookahead": "research_cmd", "optimize": "optimize_cmd", "report": "report_cmd", "warmup": "warmup_cmd",
    "monitor": "monitor_cmd", "dashboard": "monitor_cmd", "lab": None,
    "config": "config_cmd", "data": "data_cmd", "strategies": "strategies_cmd", "kill-switch": "safety_cmd",
    "safety": "safety_cmd", "paper": "session_cmd", "shadow": "session_cmd", "runs": "session_cmd",
    "testnet": "testnet_cmd", "live": "live_cmd", "mlflow": "mlflow_cmd", "sim-exchange": "sim_cmd",
    "alerts": "alerts_cmd", "portfolio": "portfolio_cmd", "schedule": "schedule_cmd", "experiment": "experiment_cmd",
}
#: The root's settings that typer passes down to the commands it builds (help as plain text: Rich markup
#: would eat "[data] exchange", the config section a default comes from).
_SETTINGS: dict[str, Any] = {"add_completion": False, "pretty_exceptions_enable": False, "rich_markup_mode": None}


def _build(module_name: str) -> dict[str, Any]:
    """Import ``peaktrade.cli.<module_name>`` and return the click commands its ``register`` adds, built the way
    typer builds a root's commands (a holder app with the root's settings)."""
    module = importlib.import_module(f"peaktrade.cli.{module_name}")
    holder = typer.Typer(**_SETTINGS)
    module.register(holder)
    return dict(typer.main.get_group(holder).commands)


class _LazyCommands(MutableMapping[str, Any]):
    """The root group's commands: every name in :data:`COMMANDS` order, each built on first access (the
    commands defined here, or registered on ``app`` directly, are there from the start)."""

    def __init__(self, eager: MutableMapping[str, Any]) -> None:
        self._built = dict(eager)
        self._names = list(dict.fromkeys([*COMMANDS, *eager]))

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            module = COMMANDS.get(name)
            if module is None:
                raise KeyError(name)
            for key, cmd in _build(module).items():
                self._built.setdefault(key, cmd)
        return self._built[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __setitem__(self, name: str, cmd: Any) -> None:
        self._built[name] = cmd
        if name not in self._names:
            self._names.append(name)

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._built.pop(name, None)


class LazyGroup(TyperGroup):
    """The root group, whose commands are :class:`_LazyCommands`: running one command imports only its module;
    the help lists them all, with their help text, as before (click's documented lazy-group pattern)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _LazyCommands(self.commands)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names only (typer's items() would build every command)


app = typer.Typer(
    name="peaktrade",
    help="peaktrade: research workbench for crypto trading strategies.",
    no_args_is_help=True,
    cls=LazyGroup,
    **_SETTINGS,
)

_DEBUG = {"on": False}


@app.command("lab")
def lab(
    ctx: typer.Context,
    port: int = typer.Option(8888, "--port", min=1, max=65535, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    browser: bool = typer.Option(False, "--browser/--no-browser", help="Open a web browser."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Register the kernel, print the command; start nothing."),
) -> None:
    """Start JupyterLab on the project's notebooks/ with the project's kernel (Ctrl-C stops it).

    The ``peaktrade`` kernel spec (this environment's Python) is registered first. The server binds to
    127.0.0.1 and asks for a token: JUPYTER_TOKEN when set, else one Jupyter makes and prints in its URL.
    Notebooks use the config peaktrade was given (``peaktrade --config X lab``)."""
    import os
    import shlex
    import signal
    import subprocess

    from peaktrade._telemetry import TELEMETRY_OFF
    from peaktrade.cli._common import load_cfg
    from peaktrade.experiments.kernel import ensure_kernel_spec, kernel_config_env, lab_command

    cfg = load_cfg(ctx.obj)
    cmd = lab_command(cfg.root / "notebooks", host=host, port=port, open_browser=browser)
    spec = ensure_kernel_spec()
    typer.echo(f"kernel: {spec}")
    typer.echo(f"command: {shlex.join(cmd)}")
    if dry_run:
        return
    # No token of ours: Jupyter makes one when JUPYTER_TOKEN is unset and prints it in the URL the user
    # opens; one we made would travel in JUPYTER_TOKEN, be printed masked, and reach every kernel's
    # os.environ. The token is never in argv (visible to every user of the machine). The kernels the
    # server starts inherit its environment, so they load the config this command was given.
    env = {**os.environ, **TELEMETRY_OFF, **kernel_config_env(cfg)}
    proc = subprocess.Popen(cmd, env=env, cwd=cfg.root)
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())  # `kill` stops the server, not only this process
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        typer.echo("JupyterLab stopped")
        return
    if code and code != -signal.SIGTERM:
        raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"peaktrade {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: str | None = typer.Option(None, "--config", help="Config file (default: config/config.toml)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    ctx.obj = {"config": config}
    _DEBUG["on"] = debug


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line to stderr and exit 2 (tracebacks only with --debug).

    Run as the program (the console script passes no argv), the process's garbage collector is tuned for
    a short-lived process that imports numpy, pandas and numba (hundreds of thousands of objects that live
    until the exit): a call with argv (a test, a notebook) leaves it as it is."""
    import gc

    if argv is None:
        # A young-generation collection every 20,000 allocations instead of 700: the imports' objects all
        # survive, so the 300 young and 30 older collections a backtest triggered found almost nothing to free
        # (0.2 s; 0.1 s left). Cyclic garbage is still collected, a little later.
        gc.set_threshold(20_000, *gc.get_threshold()[1:])
    code = _run(list(sys.argv[1:] if argv is None else argv))
    if argv is None:
        # The process exits next, and the collection at interpreter shutdown would walk every object numpy,
        # pandas and numba made (0.3-0.4 s of a backtest, more than the backtest itself). Frozen, they are left
        # out of it: what is still reachable at exit is freed by reference counts or by the OS, as before;
        # atexit handlers run as always. Python never promised finalizers of objects alive at exit.
        gc.freeze()
    return code


def _run(args: list[str]) -> int:
    from peaktrade.errors import PeakTradeError

    _DEBUG["on"] = "--debug" in args
    try:
        rv = app(args=args, prog_name="peaktrade", standalone_mode=False)
    except PeakTradeError as e:
        if _DEBUG["on"]:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        return 2
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as e:  # usage errors of click (typer >= 0.20 vendors it as typer._click: duck-type)
        show, code = getattr(e, "show", None), getattr(e, "exit_code", None)
        if callable(show) and type(code) is int:
            show()
            return code
        raise
    # without standalone mode, typer returns the code of a typer.Exit instead of raising it
    return rv if type(rv) is int else 0


if __name__ == "__main__":
    sys.exit(main())
