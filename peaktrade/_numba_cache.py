"""Choose a writable numba cache directory before any ``cache=True`` kernel is compiled.

numba writes its cache next to the sources (``__pycache__``). Where that is read-only (a system-wide
install) numba would fail at import, and some setups hang (vectorbt #816). Order of preference:

1. ``NUMBA_CACHE_DIR`` when the user set it and it is writable;
2. numba's default next to the sources, when writable;
3. ``$XDG_CACHE_HOME/peaktrade/numba`` (``~/.cache/peaktrade/numba``);
4. a private directory in the temp dir (mode 0700, owned by this user; a fresh one if the usual
   name is taken by someone else), so nothing another user planted is ever loaded.

When numba is already imported (e.g. a notebook imported vectorbt first) its config is updated too,
since numba reads the environment only once.

Compiling the kernels takes tens of seconds; it happens once per install (``make install`` runs
``peaktrade warmup``) and then they load from this cache. Whenever a peaktrade kernel is compiled
anyway (cache cleared, package upgraded, ``pip install`` without the warm-up), one line on stderr says
so, once per process (:func:`announce_compiles`; numba is not imported for it).
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any


def _writable(d: Path) -> bool:
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=d):
            return True
    except OSError:
        return False


def _private_tmp() -> Path | None:
    """Return a temp-dir cache directory only this user can write, or None."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    d = Path(tempfile.gettempdir()) / f"peaktrade-numba-{uid}"
    try:
        d.mkdir(mode=0o700, exist_ok=True)
        st = d.lstat()
        if stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o077 and _writable(d):
            return d
        return Path(tempfile.mkdtemp(prefix="peaktrade-numba-"))
    except OSError:
        return None


def _use(d: Path) -> str:
    os.environ["NUMBA_CACHE_DIR"] = str(d)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:  # numba already read the environment: tell it directly
        numba_config.CACHE_DIR = str(d)
    return str(d)


def ensure_cache_dir() -> str | None:
    """Return the cache dir chosen (None when numba's default next to the sources is used)."""
    user = os.environ.get("NUMBA_CACHE_DIR")
    if user and _writable(Path(user)):
        return user
    pkg = Path(__file__).resolve().parent
    if not user and _writable(pkg / "__pycache__"):
        return None
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "peaktrade" / "numba"
    if _writable(xdg):
        return _use(xdg)
    tmp = _private_tmp()
    return _use(tmp) if tmp is not None else None


def cache_location() -> str:
    """Where the kernels are cached, in words (for messages)."""
    return os.environ.get("NUMBA_CACHE_DIR") or f"{Path(__file__).resolve().parent}/**/__pycache__"


COMPILE_MESSAGE = ("peaktrade: compiling numba kernels, once (cache cold: first run after install or upgrade; "
                   "`peaktrade warmup` does it ahead); later runs load them from {where}")
_state = {"announced": False, "registered": False}


def quiet_compiles() -> None:
    """Say nothing more about compiles in this process (the warm-up prints its own message)."""
    _state["announced"] = True


def _announce(dispatcher: Any) -> None:
    if _state["announced"]:
        return
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", None) or ""
    if module == "peaktrade" or module.startswith("peaktrade."):  # not vectorbt's or a user's own kernels
        _state["announced"] = True
        print(COMPILE_MESSAGE.format(where=cache_location()), file=sys.stderr, flush=True)


def _register_listener() -> None:
    if _state["registered"]:
        return
    from numba.core import event

    class _Announce(event.Listener):
        # numba fires "numba:compile" only on a real compile, never when it loads a kernel from the cache
        def on_start(self, ev: event.Event) -> None:
            _announce(ev.data.get("dispatcher"))

        def on_end(self, ev: event.Event) -> None:
            pass

    event.register("numba:compile", _Announce())
    _state["registered"] = True


def _preload_cython_blas() -> None:
    """Load ``scipy.linalg.cython_blas`` alone, before numba asks for it.

    The first kernel numba loads from the cache makes it import its typing registries; one of them
    (``numba.np.arraymath``) checks that BLAS is there with ``import scipy.linalg.cython_blas``, which runs
    the whole ``scipy.linalg`` package first (0.3-0.6 s, most of a cached backtest's start-up) although
    only that extension module is used. Loaded here on its own and put in ``sys.modules``, numba's import
    finds it and numba sees the same BLAS; a later ``import scipy.linalg`` works as usual (and binds it). Nothing is done
    when scipy.linalg or numba's registries are loaded already, or scipy is absent; any failure leaves the
    usual import to numba."""
    name = "scipy.linalg.cython_blas"
    if name in sys.modules or "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    import importlib.machinery
    import importlib.util

    try:
        scipy_spec = importlib.util.find_spec("scipy")
        for d in (scipy_spec.submodule_search_locations or []) if scipy_spec is not None else []:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = Path(d) / "linalg" / f"cython_blas{suffix}"
                if path.is_file():
                    spec = importlib.util.spec_from_file_location(name, path)
                    if spec is None or spec.loader is None:
                        return
                    module = importlib.util.module_from_spec(spec)
                    sys.modules[name] = module
                    spec.loader.exec_module(module)
                    # the import system binds a submodule to its package only when it loads it: do it when
                    # scipy.linalg is imported, so `scipy.linalg.cython_blas` is there as numba would have left it
                    bind = _AfterImport("scipy.linalg", lambda pkg, m=module: setattr(pkg, "cython_blas", m))
                    sys.meta_path.insert(0, bind)
                    return
    except Exception:  # noqa: BLE001  (an optimisation only: numba's own import then runs as it always did)
        sys.modules.pop(name, None)


class _AfterImport:
    """A meta path finder that calls ``then(module)`` right after the module ``name`` is first imported, then
    leaves ``sys.meta_path``: the compile listener is registered this way when numba is imported, so that
    importing peaktrade (``peaktrade --help``, the config commands) never imports numba for it."""

    def __init__(self, name: str, then: Any) -> None:
        self.name = name
        self.then = then

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != self.name:
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        load = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            load(module)
            self.then(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]  (this spec's loader only)
        return spec


def _light_cache_loads() -> None:
    """Load cached CPU kernels without numba's full registry set-up; the first compile still does all of it.

    Before it loads a kernel from the disk cache, numba calls ``target_context.refresh()``: it imports every
    implementation module (unicode, dicts, lists, random, linalg, cffi...) and registers each ``@overload`` in
    the typing and target contexts (0.35-0.5 s, a fifth of a cached backtest's start-up). Only a compile
    needs them (it types and lowers code with them); a kernel from the cache is machine code whose undefined
    symbols are resolved when it is linked. numba registers such symbols in three places: the C helpers and
    exceptions when the context is made, the runtime (NRT) in ``rtsys.initialize`` (done in the refresh) and
    the hash secret when ``numba.cpython.hashing`` is imported (also done in the refresh); the parallel
    thread layer is started by the kernel's own ``reload_init``. So the load does those two steps and no
    more. A compile (a cache miss, new argument types, a kernel calling a new one) runs numba's full
    refresh as always (``CompilerBase.__init__``). Any error of the light load falls back to numba's own
    load (full refresh, then the load again), so a failure there is numba's usual one. Other targets
    (CUDA) keep numba's method untouched. It applies to every cached CPU kernel of the process (vectorbt's,
    a user's), as numba's own refresh did."""
    from numba.core import caching
    from numba.core.cpu import CPUContext

    full = caching.Cache.load_overload
    if getattr(full, "peaktrade_light", False):
        return

    def load_overload(self: Any, sig: Any, target_context: Any) -> Any:
        if type(target_context) is not CPUContext:
            return full(self, sig, target_context)
        try:
            from numba.core.runtime import rtsys
            from numba.cpython import hashing  # noqa: F401  (its import installs the hash-secret symbols)

            rtsys.initialize(target_context)
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)
        except Exception:  # noqa: BLE001  (numba's own path decides: full refresh, load, its error if any)
            return full(self, sig, target_context)

    load_overload.peaktrade_light = True  # type: ignore[attr-defined]
    load_overload.__doc__ = full.__doc__
    caching.Cache.load_overload = load_overload  # type: ignore[method-assign]


def _after_numba_import(_numba: Any) -> None:
    _register_listener()
    _preload_cython_blas()
    _light_cache_loads()


def announce_compiles() -> None:
    """Print :data:`COMPILE_MESSAGE` on stderr the first time this process compiles a peaktrade kernel."""
    if "numba.core.event" in sys.modules and "numba" in sys.modules:
        _register_listener()
        _preload_cython_blas()
        _light_cache_loads()
    elif not any(isinstance(f, _AfterImport) and f.name == "numba" for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport("numba", _after_numba_import))


ensure_cache_dir()
announce_compiles()
