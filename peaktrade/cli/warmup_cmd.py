"""``peaktrade warmup``: compile and cache the numba kernels now (``make install`` runs it), so that the
first ``peaktrade backtest`` loads them from the cache instead of compiling for tens of seconds; and write
the package's bytecode (``.pyc``) files, so that no process compiles peaktrade's modules from source."""

from __future__ import annotations

import time

import typer

from peaktrade.cli._common import err_console


def warm_kernels() -> int:
    """Run every kernel the research commands use once, on a few hundred synthetic bars; return how many
    peaktrade kernels had to be compiled (0 when the cache was warm already).

    It goes through the public functions (not a list of kernels), so a kernel added behind them is
    warmed too: each library strategy's run and sweep, the option variants that reach other code
    (stops, shorts, volatility-target sizing, fills at the close), walk-forward, Monte Carlo, the
    lookahead check and the synthetic data generator."""
    from numba.core import event

    compiled = [0]

    class _Count(event.Listener):
        def on_start(self, ev: event.Event) -> None:
            fn = getattr(ev.data.get("dispatcher"), "py_func", None)
            compiled[0] += (getattr(fn, "__module__", "") or "").startswith("peaktrade")

        def on_end(self, ev: event.Event) -> None:
            pass

    from peaktrade.backtest import run, sweep
    from peaktrade.data import synthetic_bars
    from peaktrade.experiments import lookahead_check, monte_carlo, walk_forward
    from peaktrade.strategies import get_strategy
    from peaktrade.strategies.registry import LIBRARY

    listener = _Count()
    event.register("numba:compile", listener)
    try:
        bars = synthetic_bars(400, seed=1)
        for name in LIBRARY:
            strat = get_strategy(name)
            run(strat, bars, fees=0.001).stats()  # stats() adds the buy-and-hold benchmark's kernel
            sweep(strat, bars, fees=0.001, progress=False)
        res = run("ma_crossover", bars, fees=0.001, fast=5, slow=20)
        for opts in ({"sl_stop": 0.02, "tp_stop": 0.05, "sl_trail": 0.03}, {"direction": "both"},
                     {"direction": "short", "execution": "close"}, {"size_type": "vol_target", "size": 0.5}):
            run("ma_crossover", bars, fees=0.001, fast=5, slow=20, **opts).stats()
            sweep("ma_crossover", bars, fees=0.001, fast=[5, 8], slow=[20, 30], progress=False, **opts)
        walk_forward("ma_crossover", bars, train=200, test=100, fees=0.001, fast=[5, 8], slow=[20, 30])
        monte_carlo(res, n_sims=20)
        monte_carlo(res, method="block", n_sims=20)
        lookahead_check("ma_crossover", bars, n_random=3, fast=5, slow=20)
    finally:
        event.unregister("numba:compile", listener)
    return compiled[0]


def write_bytecode() -> bool:
    """Write the ``.pyc`` file of every module of the peaktrade package; return False when some could not be
    written (a read-only install: each process then compiles those modules from source, as without this).

    An editable install (``pip install -e``, what ``make install`` does) leaves the project's modules without
    bytecode, and a process started with ``PYTHONDONTWRITEBYTECODE`` set (some sandboxes and CI images set
    it) never writes any: it compiles every peaktrade module it imports from source, ~0.2 s of each
    ``peaktrade backtest``. ``py_compile`` writes them whatever that setting (it is for implicit writes)."""
    import compileall
    from pathlib import Path

    import peaktrade

    return bool(compileall.compile_dir(Path(peaktrade.__file__).parent, quiet=2))


def warmup(quiet: bool = typer.Option(False, "--quiet", help="Print only when something was compiled.")) -> None:
    """Compile the numba kernels into the cache now (make install runs this; about a minute the first
    time, a few seconds when the cache is warm already) and write peaktrade's .pyc files."""
    from peaktrade import _numba_cache

    _numba_cache.quiet_compiles()  # this command says what it does itself
    where = _numba_cache.cache_location()
    if not quiet:
        err_console.print(f"peaktrade warmup: loading or compiling the numba kernels into {where} "
                          "(compiling takes about a minute, once per install)", markup=False, highlight=False,
                          soft_wrap=True)
    t0 = time.perf_counter()
    if not write_bytecode():
        err_console.print("peaktrade warmup: some .pyc files could not be written (read-only install?): those "
                          "modules are compiled from source in each process", markup=False, highlight=False,
                          soft_wrap=True)
    n = warm_kernels()
    if n or not quiet:
        err_console.print(f"peaktrade warmup: {n} kernels compiled, the rest loaded from the cache, in "
                          f"{time.perf_counter() - t0:.1f} s; cache: {where}", markup=False, highlight=False,
                          soft_wrap=True)


def register(root: typer.Typer) -> None:
    """Add the ``warmup`` command to the root app."""
    root.command("warmup")(warmup)


__all__ = ["register", "warm_kernels", "write_bytecode"]
