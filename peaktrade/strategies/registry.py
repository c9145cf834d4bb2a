"""Strategy registry: name → :class:`~peaktrade.strategies.base.Strategy`.

Three sources, each strategy tagged with where it came from (:func:`strategy_source`):

* the library: each module in :data:`LIBRARY` exposes ``STRATEGY``; modules load on first lookup;
* the user's folders, ``[strategies] paths`` of the config (default ``strategies/`` at the project
  root): every ``*.py`` not starting with ``_``; each module-level :class:`Strategy` and each concrete
  :class:`~peaktrade.strategies.authoring.PandasStrategy` subclass defined in the file is registered;
* the ``peaktrade.strategies`` entry-point group of installed packages: an entry point names a
  Strategy, a PandasStrategy subclass, or a module (scanned like a file).

User strategies are discovered when the strategies are listed or a name outside the library is looked
up; a file is re-imported only when it changed. A file or entry point that fails to load raises a
:class:`~peaktrade.errors.StrategyError` naming it and the error: never skipped silently.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import math
import sys
import types
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peaktrade.errors import StrategyError
from peaktrade.strategies.authoring import PandasStrategy, as_strategy
from peaktrade.strategies.base import Param, Strategy, prices_from_bars, signal_arrays

if TYPE_CHECKING:
    from peaktrade.config import Config

#: Entry-point group installed packages register strategies under.
ENTRY_POINT_GROUP = "peaktrade.strategies"

#: Library strategy modules, in display order.
LIBRARY = (
    "ma_crossover",
    "rsi_reversion",
    "donchian_breakout",
    "bollinger_reversion",
    "macd",
    "momentum",
    "trend_following",
    "zscore_reversion",
    "atr_band_breakout",
    "breakout",
    "vol_regime_filter",
    "composite",
)

_REGISTRY: dict[str, Strategy] = {}
_SOURCES: dict[str, str] = {}
_loaded = False
#: Discovered user strategies (rebuilt by each discovery) and their sources.
_USER: dict[str, tuple[Strategy, str]] = {}
#: Per file: (mtime_ns, size) it was imported at, and the strategies it defined.
_FILES: dict[Path, tuple[tuple[int, int], list[Strategy]]] = {}
_ENTRY_POINTS: dict[tuple[str, str, str], list[Strategy]] = {}


def register(strategy: Any) -> Strategy:
    """Add ``strategy`` (a Strategy or a PandasStrategy) to the registry, replacing one of the same name."""
    strat = as_strategy(strategy)
    if strat is None:
        raise StrategyError(f"cannot register {strategy!r}: expected a Strategy or a PandasStrategy subclass")
    _REGISTRY[strat.name] = strat
    _SOURCES.setdefault(strat.name, "register()")
    return strat


def _load_library(only: str | None = None) -> None:
    """Import the library strategy modules (``only``: just that one, when it is a library module's name:
    each module loads its cached numba kernels, so a single backtest does not pay for all of them)."""
    global _loaded
    if _loaded:
        return
    for mod in (only,) if only in LIBRARY else LIBRARY:
        try:
            m = importlib.import_module(f"peaktrade.strategies.{mod}")
        except ModuleNotFoundError as e:
            if e.name == f"peaktrade.strategies.{mod}":
                continue
            raise
        _REGISTRY[m.STRATEGY.name] = m.STRATEGY
        _SOURCES[m.STRATEGY.name] = "library"
    _loaded = only not in LIBRARY


def strategy_paths(config: Config | None = None) -> list[Path]:
    """Return the absolute user strategy folders (``[strategies] paths``)."""
    from peaktrade.config import load_config

    cfg = config if config is not None else load_config()
    return cfg.strategy_dirs


def _module_strategies(mod: types.ModuleType) -> list[Strategy]:
    """Return the strategies a module defines: Strategy instances and concrete PandasStrategy subclasses."""
    out: list[Strategy] = []
    for obj in vars(mod).values():
        if isinstance(obj, Strategy):
            if any(obj is s for s in _REGISTRY.values()):
                continue  # a library strategy imported by the file, not defined by it
            out.append(obj)
        elif (isinstance(obj, type) and issubclass(obj, PandasStrategy) and obj.__module__ == mod.__name__
              and obj.is_concrete()):
            out.append(obj().to_strategy())
    return out


def _load_file(path: Path) -> list[Strategy]:
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _FILES.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    mod_name = f"_peaktrade_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    try:
        spec = importlib.util.spec_from_file_location(mod_name, path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = mod  # dataclasses, numba's cache and the code hash look modules up here
        spec.loader.exec_module(mod)
        found = _module_strategies(mod)
    except StrategyError as e:
        sys.modules.pop(mod_name, None)
        raise StrategyError(f"strategy file {path}: {e}") from None
    except Exception as e:  # noqa: BLE001 — any failure of user code is reported, with its path
        sys.modules.pop(mod_name, None)
        raise StrategyError(f"strategy file {path} failed to import: {type(e).__name__}: {e}") from e
    _FILES[path] = (stamp, found)
    return found


def _load_entry_point(ep: metadata.EntryPoint) -> list[Strategy]:
    dist = ep.dist.name if ep.dist is not None else "?"
    key = (dist, ep.name, ep.value)
    if key in _ENTRY_POINTS:
        return _ENTRY_POINTS[key]
    try:
        obj = ep.load()
        found = _module_strategies(obj) if isinstance(obj, types.ModuleType) else [as_strategy(obj)]
    except Exception as e:  # noqa: BLE001 — any failure of an installed package is reported, with its name
        raise StrategyError(f"strategy entry point {ep.name} = {ep.value} of package {dist} failed to load: "
                            f"{type(e).__name__}: {e}") from e
    if any(s is None for s in found):
        raise StrategyError(f"strategy entry point {ep.name} = {ep.value} of package {dist} is {obj!r}: expected "
                            "a Strategy, a PandasStrategy subclass or a module")
    _ENTRY_POINTS[key] = found
    return found


def _discover(config: Config | None) -> None:
    """Rebuild the user strategies from the configured folders and the installed entry points."""
    _load_library()
    found: dict[str, tuple[Strategy, str]] = {}

    def add(strat: Strategy, source: str) -> None:
        other = found[strat.name][1] if strat.name in found else (
            _SOURCES.get(strat.name, "register()") if strat.name in _REGISTRY else None)
        if other is not None:
            raise StrategyError(f"strategy name {strat.name!r} from {source} is already taken by {other}: "
                                "rename one of them")
        found[strat.name] = (strat, source)

    for folder in strategy_paths(config):
        if folder.is_dir():
            for path in sorted(folder.glob("*.py")):
                if not path.name.startswith("_"):
                    for strat in _load_file(path.resolve()):
                        add(strat, str(path))
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        for strat in _load_entry_point(ep):
            add(strat, f"package {ep.dist.name if ep.dist is not None else '?'}")
    _USER.clear()
    _USER.update(found)


def get_strategy(name: Any, *, config: Config | None = None) -> Strategy:
    """Return the strategy called ``name`` (a Strategy passes through; a PandasStrategy is converted).

    A name outside the library and :func:`register` is looked up among the user's strategies
    (``config``'s ``[strategies] paths`` and entry points; default config: :func:`~peaktrade.config.load_config`).
    """
    strat = as_strategy(name)
    if strat is not None:
        return strat
    if not isinstance(name, str):
        raise StrategyError(f"strategy={name!r} is invalid: expected a name, a Strategy or a PandasStrategy")
    if name not in _REGISTRY:
        _load_library(name)
    if name not in _REGISTRY:
        _load_library()
    if name in _REGISTRY:
        return _REGISTRY[name]
    _discover(config)
    try:
        return _USER[name][0]
    except KeyError:
        known = sorted({*_REGISTRY, *_USER})
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise StrategyError(f"unknown strategy {name!r}{hint}: expected one of {', '.join(known)}") from None


def list_strategies(*, config: Config | None = None) -> list[Strategy]:
    """Return every strategy: the library in its order, then the registered and user ones by name."""
    _discover(config)
    order = {n: i for i, n in enumerate(LIBRARY)}
    every = {**_REGISTRY, **{n: s for n, (s, _) in _USER.items()}}
    return sorted(every.values(), key=lambda s: (order.get(s.name, len(order)), s.name))


def strategy_source(name: str) -> str:
    """Return where a listed strategy came from: ``"library"``, its file path, ``"package <dist>"``, ``"register()"``."""
    if name in _REGISTRY:
        return _SOURCES.get(name, "register()")
    if name in _USER:
        return _USER[name][1]
    raise StrategyError(f"unknown strategy {name!r}: list the strategies first (list_strategies) to discover it")


def generate_signals(strategy: Strategy | str, bars: Any, **params: Any):
    """Return the strategy's (entries, exits) as bool Series on the bars' index.

    Parameters are validated by name; unknown names, bad values and broken constraints raise
    :class:`~peaktrade.errors.StrategyError`.
    """
    import pandas as pd

    strat = get_strategy(strategy)
    resolved = strat.resolve(params)
    e, x = signal_arrays(strat, prices_from_bars(bars), resolved)
    return pd.Series(e, index=bars.index, name="entries"), pd.Series(x, index=bars.index, name="exits")


#: Multiples of the default a numeric parameter without a declared ``step`` is searched at (5 points
#: from half to twice the default, clipped to ``[low, high]``): the library's ranges are
#: validity bounds (a window in 1..10,000), not search ranges, so spreading points over them would
#: search mostly meaningless values.
DEFAULT_MULTIPLES = (0.5, 0.75, 1.0, 1.5, 2.0)

#: Largest declared search space a sweep expands (before constraints); beyond it, fix or grid some parameters.
MAX_SPACE_COMBOS = 250_000


def declared_values(param: Param) -> list[Any]:
    """Return the values a sweep over the declared search space gives ``param``.

    Choices and booleans: all of them. A number with a ``step``: ``low..high`` by ``step``
    (:meth:`Param.grid`). A number without one: the default times :data:`DEFAULT_MULTIPLES`, clipped
    to ``[low, high]``, rounded for ints, without repeats (a default of 0 or NaN: the default alone).
    """
    if param.kind in ("choice", "bool") or param.step is not None:
        return param.grid()
    d = param.default
    if not isinstance(d, (int, float)) or isinstance(d, bool) or not math.isfinite(d) or d == 0:
        return [d]
    out: list[Any] = []
    for m in DEFAULT_MULTIPLES:
        v: Any = min(max(d * m, -math.inf if param.low is None else param.low),
                     math.inf if param.high is None else param.high)  # clipped to the valid range
        v = int(round(v)) if param.kind == "int" else round(float(v), 12)
        if v not in out:
            out.append(v)
    return sorted(out)


def search_space(strategy: Any, fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the strategy's declared search space as sweep grids: ``{name: [values]}`` per parameter.

    Each parameter takes :func:`declared_values`, except those in ``fixed``, which keep the given
    value (a scalar fixes it, a list sweeps those values). Constraints are applied by the sweep
    (combinations that break one are skipped and counted). A space of more than
    :data:`MAX_SPACE_COMBOS` combinations raises, naming its size per parameter.
    """
    strat = get_strategy(strategy)
    fixed = dict(fixed or {})
    space = {p.name: declared_values(p) for p in strat.params if p.name not in fixed}
    n = math.prod(len(v) for v in space.values())
    if n > MAX_SPACE_COMBOS:
        sizes = ", ".join(f"{k}: {len(v)}" for k, v in space.items() if len(v) > 1)
        raise StrategyError(f"the declared search space of '{strat.name}' has {n:,} combinations ({sizes}): "
                            f"expected at most {MAX_SPACE_COMBOS:,}; fix some parameters (--param NAME=VALUE) "
                            "or give grids (--grid)")
    # the strategy's parameter order, then fixed extras (stops)
    return {**{p.name: fixed.get(p.name, space.get(p.name)) for p in strat.params}, **fixed}
