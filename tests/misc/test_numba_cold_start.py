"""Cold start: ``make install`` compiles the kernels ahead (``peaktrade warmup``) so the first backtest only
loads them; when a peaktrade kernel compiles anyway, one line on stderr says so, once per process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import REPO_ROOT

from peaktrade._numba_cache import COMPILE_MESSAGE

# two small kernels, in a fresh process (a kernel already loaded in this process would not compile)
_TWO_KERNELS = ("import numpy as np, pandas as pd; from peaktrade.indicators.api import log_returns, roc; "
                "x = pd.Series(np.arange(1.0, 50.0)); roc(x, window=3); log_returns(x); print('ok')")


def _python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env})


def test_kernel_use_when_numba_cache_is_cold_then_one_stderr_line_says_it_compiles_once_and_warm_says_nothing(
        tmp_path):
    cache = tmp_path / "numba-cache"
    cold = _python(_TWO_KERNELS, tmp_path, NUMBA_CACHE_DIR=str(cache))
    assert cold.returncode == 0 and cold.stdout == "ok\n", cold.stderr
    lines = cold.stderr.splitlines()
    assert lines == [COMPILE_MESSAGE.format(where=cache)], cold.stderr  # one line, naming the cache, for two kernels
    assert list(cache.rglob("*.nbi")), "numba wrote no cache index"

    warm = _python(_TWO_KERNELS, tmp_path, NUMBA_CACHE_DIR=str(cache))
    assert warm.returncode == 0 and warm.stdout == "ok\n"
    assert warm.stderr == ""  # loaded from the cache: nothing to say


def test_numba_import_when_peaktrade_is_imported_then_numba_is_not_imported_for_the_message(tmp_path):
    out = _python("import sys, peaktrade; from peaktrade.cli import main; print('numba' in sys.modules)", tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "False\n"  # `peaktrade --help` and the config commands stay light


def test_cli_import_when_no_command_ran_then_numpy_pandas_and_pydantic_are_not_imported(tmp_path):
    """Building the command tree (``peaktrade --help``) loads none of the heavy libraries: each command imports
    what it uses when it runs."""
    out = _python("import sys; from peaktrade.cli.main import app; "
                  "print([m for m in ('numpy', 'pandas', 'pydantic', 'numba', 'pyarrow') if m in sys.modules])",
                  tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "[]\n"


# Snapshot every peaktrade kernel signature loaded in this process (a cache load and a compile both add one).
_SIGNATURES = """
import gc
from numba.core.dispatcher import Dispatcher
def signatures():
    return {(d.py_func.__module__, d.py_func.__qualname__, sig) for d in gc.get_objects()
            if isinstance(d, Dispatcher) and d.py_func.__module__.startswith("peaktrade") for sig in d.overloads}
"""


def test_research_commands_when_warmup_ran_then_they_need_no_kernel_signature_it_did_not_load(tmp_path, clean_env):
    """What ``make install`` warms covers what backtest, sweep and walk-forward need: after the warm-up
    they add no kernel signature (not even one loaded from the disk cache; a compile would add one too),
    so after an install they compile nothing and print no compile message."""
    code = _SIGNATURES + """
from peaktrade.cli.main import main
from peaktrade.cli.warmup_cmd import warm_kernels
warm_kernels()
before = signatures()
for argv in (["backtest", "ma_crossover", "--exchange", "synthetic", "--param", "fast=20", "--param", "slow=100"],
             ["backtest", "rsi_reversion", "--exchange", "synthetic"],
             ["sweep", "ma_crossover", "--exchange", "synthetic", "--grid", "fast=5,10", "--grid", "slow=50,80"],
             ["walk-forward", "ma_crossover", "--exchange", "synthetic", "--train", "2000", "--test", "1000",
              "--grid", "fast=5,10", "--grid", "slow=50,80"]):
    assert main(argv) == 0, argv
new = signatures() - before
print("NEW", sorted(map(str, new)))
print("WARMED", len(before))
"""
    out = _python(code, tmp_path)  # the synthetic data set is stored in tmp_path (built-in defaults)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "NEW []" in out.stdout, out.stdout[-3000:]
    warmed = int(out.stdout.rsplit("WARMED ", 1)[1].split()[0])
    assert warmed >= 20  # the warm-up loaded (or compiled) the kernels themselves, not nothing


def test_make_install_when_run_then_it_warms_the_numba_cache_after_installing():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    r = subprocess.run(["make", "--no-print-directory", "-n", "-B", "install", "VENV=/opt/v"], cwd=REPO_ROOT,
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if not ln.startswith("#")]
    pip = next(i for i, ln in enumerate(lines) if "pip install" in ln)
    warm = lines.index("/opt/v/bin/peaktrade warmup")
    stamp = next(i for i, ln in enumerate(lines) if ln.startswith("touch "))
    assert pip < warm < stamp  # warmed after the install, and a failed warm-up leaves the install to redo


# Modules a plain backtest does not use: importing any of them is start-up time the user waits for at every
# `peaktrade backtest` (scipy.linalg alone was a third of a second: numba's BLAS probe imported all of it).
_NOT_ON_THE_BACKTEST_PATH = ("scipy.linalg", "scipy.stats", "scipy.optimize", "sqlalchemy", "mlflow", "optuna",
                             "skfolio", "sklearn", "plotly", "matplotlib", "ccxt", "jinja2", "papermill", "dask",
                             "peaktrade.experiments", "peaktrade.tracking", "peaktrade.reporting",
                             # numba's typing registries, set up to compile, not to load a cached kernel
                             "cffi", "numba.core.typing.cffi_utils", "numba.typed.typeddict")


def test_backtest_cli_when_run_in_a_fresh_process_then_it_imports_no_module_it_does_not_use(tmp_path):
    """Mechanism, not wall time: the first ``peaktrade backtest`` in a process imports only what it uses (no
    scipy.linalg, SQLAlchemy, MLflow, Optuna, plotting, ccxt...) and loads only the strategy it runs (each
    library module loads its kernels)."""
    code = f"""
import sys
from peaktrade.cli.main import main
assert main(["backtest", "ma_crossover", "--exchange", "synthetic"]) == 0
from peaktrade.strategies.registry import LIBRARY
heavy = [m for m in {_NOT_ON_THE_BACKTEST_PATH!r} if m in sys.modules]
others = [m for m in LIBRARY if m != "ma_crossover" and "peaktrade.strategies." + m in sys.modules]
commands = sorted(m for m in sys.modules if m.startswith("peaktrade.cli.") and m.endswith("_cmd"))
print("HEAVY", heavy, "OTHER_STRATEGIES", others, "COMMAND_MODULES", commands)
"""
    out = _python(code, tmp_path)  # the synthetic data set is stored in tmp_path (built-in defaults)
    assert out.returncode == 0, out.stderr[-3000:]
    # and of the 18 command modules only the one defining `backtest` (the others: 0.15-0.25 s to build)
    assert "HEAVY [] OTHER_STRATEGIES [] COMMAND_MODULES ['peaktrade.cli.research_cmd']" in out.stdout, \
        out.stdout[-3000:]


def test_cli_help_when_commands_load_lazily_then_every_page_equals_the_eagerly_built_tree(tmp_path):
    """The root group builds a command's module only when it is used, yet ``peaktrade --help`` and every
    group's and command's help page are those of the tree typer builds with every module registered up front
    (same commands, order, help texts and options), and the root knows every module's commands."""
    code = """
import typer
from peaktrade.cli import main as m
pages = lambda root: _pages(typer.main.get_command(root))
def _pages(cmd, name="peaktrade", parent=None, path="peaktrade"):
    ctx = cmd.context_class(cmd, info_name=name, parent=parent, terminal_width=100, max_content_width=100)
    out = [path + "\\n" + cmd.get_help(ctx)]
    for sub in (cmd.list_commands(ctx) if hasattr(cmd, "list_commands") else []):
        out += _pages(cmd.get_command(ctx, sub), sub, ctx, path + " " + sub)
    return out
lazy = pages(m.app)
eager = typer.Typer(name="peaktrade", help=m.app.info.help, no_args_is_help=True, **m._SETTINGS)
for module in dict.fromkeys(v for v in m.COMMANDS.values() if v):
    __import__("peaktrade.cli." + module, fromlist=["register"]).register(eager)
eager.registered_commands += m.app.registered_commands
eager.callback()(m.app.registered_callback.callback)
order = list(m.COMMANDS)
eager.registered_commands.sort(key=lambda c: order.index(c.name))
expected = pages(eager)
print(len(lazy), lazy == expected, [p.split("\\n")[0] for p in lazy if p not in expected][:5])
"""
    out = _python(code, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    n, same, differing = out.stdout.split(" ", 2)
    assert int(n) > 60 and (same, differing) == ("True", "[]\n"), out.stdout
    # a command module the root does not name would never be reachable
    from peaktrade.cli.main import COMMANDS

    with_register = {p.stem for p in (REPO_ROOT / "peaktrade" / "cli").glob("*_cmd.py")
                     if "\ndef register(" in p.read_text(encoding="utf-8")}
    assert with_register == set(COMMANDS.values()) - {None}


def test_numba_blas_when_peaktrade_imported_first_then_dot_works_without_importing_scipy_linalg(tmp_path):
    """numba's BLAS probe gets ``scipy.linalg.cython_blas`` loaded alone (see ``_numba_cache``): numba still
    finds BLAS (``np.dot`` in a kernel goes through it) and the whole scipy.linalg package stays unloaded."""
    code = ("import sys, peaktrade, numba, numpy as np\n"
            "from numba.np import arraymath\n"
            "dot = numba.njit(lambda a, b: np.dot(a, b))\n"
            "print(arraymath._HAVE_BLAS, dot(np.arange(3.0), np.arange(1.0, 4.0)), 'scipy.linalg' in sys.modules)\n"
            "import scipy.linalg\n"  # imported later (skfolio, the user): the submodule is bound as usual
            "print(scipy.linalg.cython_blas is sys.modules['scipy.linalg.cython_blas'])")
    out = _python(code, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["True", "8.0", "False", "True"]


# A module of cached kernels using what a cached kernel needs linked at load time: the runtime (an array
# allocated) and the hash secret (hash of a str); the parallel thread layer (a kernel's reload_init) is
# covered by the research commands above (the sweep kernel).
_CACHED_KERNELS = '''
import numpy as np
from numba import njit

@njit(cache=True)
def alloc_nb(n):
    return np.arange(n) * 2.0

@njit(cache=True)
def hash_nb(s):
    return hash(s)
'''
_USE_CACHED = """
import sys, numpy as np, peaktrade, lightmod
print(lightmod.alloc_nb(4).tolist(), lightmod.hash_nb("peaktrade") == hash("peaktrade"),
      {m: m in sys.modules for m in ("numba.np.arraymath", "numba.typed.typeddict", "cffi")})
"""


def test_cached_kernel_load_when_fresh_process_then_numba_registries_stay_unloaded_and_a_compile_still_works(tmp_path):
    """A kernel loaded from the disk cache needs no typing registries (numba's refresh before a cache load
    was 0.35-0.5 s of every backtest's start-up): the runtime and hash-secret symbols it links against are
    there, its results are right, and a later compile still gets numba's full set-up."""
    (tmp_path / "lightmod.py").write_text(_CACHED_KERNELS, encoding="utf-8")
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{tmp_path}"}
    first = _python(_USE_CACHED, tmp_path, **env)  # compiles and fills the cache
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.startswith("[0.0, 2.0, 4.0, 6.0] True {'numba.np.arraymath': True")

    code = _USE_CACHED + """
from numba import njit
@njit
def total_nb(x):  # compiled now: typing np.sum needs numba.np.arraymath, a registry the cache loads skipped
    return np.sum(x)
print(total_nb(np.arange(5.0)), "numba.np.arraymath" in sys.modules)
"""
    warm = _python(code, tmp_path, **env)
    assert warm.returncode == 0, warm.stderr[-3000:]
    loaded, compiled = warm.stdout.splitlines()
    assert loaded == ("[0.0, 2.0, 4.0, 6.0] True "
                      "{'numba.np.arraymath': False, 'numba.typed.typeddict': False, 'cffi': False}")
    assert compiled == "10.0 True"

    # the light load failing (here: the runtime's set-up, once) falls back to numba's own load
    failing = """
import numba
from numba.core.runtime import rtsys
real, calls = rtsys.initialize, []
def initialize(ctx):
    calls.append(1)
    if len(calls) == 1:
        raise RuntimeError("light load failed")
    return real(ctx)
rtsys.initialize = initialize
""" + _USE_CACHED + """
print(len(calls) > 1, [dict(k.stats.cache_misses) for k in (lightmod.alloc_nb, lightmod.hash_nb)])
"""
    fallback = _python(failing, tmp_path, **env)
    assert fallback.returncode == 0, fallback.stderr[-3000:]
    loaded, after = fallback.stdout.splitlines()
    assert loaded.startswith("[0.0, 2.0, 4.0, 6.0] True {'numba.np.arraymath': True")  # numba's refresh ran
    assert after == "True [{}, {}]"  # and loaded both kernels from the cache all the same: no miss, no compile


def test_warmup_bytecode_when_pythondontwritebytecode_is_set_then_a_fresh_process_compiles_no_peaktrade_module(
        tmp_path):
    """``peaktrade warmup`` writes the package's .pyc files (``py_compile`` writes whatever
    PYTHONDONTWRITEBYTECODE says): a later process with that variable set loads every peaktrade module it
    imports from bytecode instead of compiling it from source (an editable install has no .pyc files)."""
    import shutil

    shutil.copytree(REPO_ROOT / "peaktrade", tmp_path / "pkg" / "peaktrade",
                    ignore=shutil.ignore_patterns("__pycache__"))  # the package without any bytecode
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(tmp_path / "pkg")}
    check = ("import os, sys; import peaktrade.cli.main, peaktrade.cli.research_cmd, peaktrade.config\n"
             "mods = [m for m in sys.modules.values() if (getattr(m, '__name__', '') + '.').startswith('peaktrade.')]\n"
             "assert all(m.__file__.startswith(sys.argv[1]) for m in mods)\n"
             "print(len(mods), sorted(m.__name__ for m in mods if not os.path.isfile(m.__spec__.cached)))")
    check = f"import sys; sys.argv[1:] = [{str(tmp_path / 'pkg')!r}]\n" + check
    before = _python(check, tmp_path, **env)
    assert before.returncode == 0, before.stderr[-3000:]
    n, missing = before.stdout.split(" ", 1)
    assert int(n) > 5 and "'peaktrade.config'" in missing  # compiled from source, nothing written

    warm = _python("from peaktrade.cli.warmup_cmd import write_bytecode; print(write_bytecode())", tmp_path, **env)
    assert warm.returncode == 0 and warm.stdout == "True\n", warm.stderr[-3000:]
    after = _python(check, tmp_path, **env)
    assert after.returncode == 0, after.stderr[-3000:]
    assert after.stdout == f"{n} []\n"


def test_cli_main_when_run_as_the_program_then_gc_is_tuned_and_frozen_before_exit_and_not_for_a_call_with_argv(
        tmp_path):
    """The console script calls ``main()`` with no argv and the process exits next: young collections are
    rarer during the imports and the objects are frozen out of the shutdown's collection (0.2 s and 0.3-0.4 s
    of a backtest); a call with argv (tests, notebooks) leaves the collector alone; both return the code."""
    code = ("import gc, sys\nfrom peaktrade.cli.main import main\ndefault = gc.get_threshold()\n"
            "a = main(['--version'])\nby_call = (gc.get_freeze_count(), gc.get_threshold() == default)\n"
            "sys.argv = ['peaktrade', 'no-such-command']\n"
            "b = main()\nprint('RESULT', a, *by_call, b, gc.get_freeze_count() > 0, gc.get_threshold()[0] > default[0])")
    out = _python(code, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines()[-1] == "RESULT 0 0 True 2 True True"
