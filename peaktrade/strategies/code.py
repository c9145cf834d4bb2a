"""The code version of a strategy (one place): what lookahead verdicts, run tags and the compute layer's chunk
cache are keyed by. In core (strategies/) so that every layer above may use it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def strategy_code_hash(strategy: Any) -> str:
    """Return a hash of the code of the strategy: the modules defining its ``prepare`` and ``signal_nb``
    and, transitively, every project module they reference (indicators, members of a wrapper, helpers).

    A module of an installed distribution contributes its distribution's name and version; a module of
    the strategy's own distribution (a strategy from an installed package, entry point group
    ``peaktrade.strategies``) also contributes its file and is followed like a project module, so
    upgrading or reinstalling the package changes the hash. Standard-library modules are left out.
    Fails closed: when a module defining the strategy has no file and no distribution to hash (defined
    in ``__main__`` of a notebook, by ``exec``, or claiming a module it does not come from), the hash is
    made unique (random), so no cached lookahead verdict or run tag is ever shared with other code.
    """
    import hashlib
    import secrets
    import sys
    import sysconfig
    import types
    from importlib import metadata

    from peaktrade.strategies.base import Strategy
    from peaktrade.strategies.registry import get_strategy

    strat = get_strategy(strategy)
    paths = sysconfig.get_paths()
    installed = tuple(str(Path(paths[k]).resolve()) for k in ("purelib", "platlib"))
    stdlib = tuple(str(Path(paths[k]).resolve()) for k in ("stdlib", "platstdlib"))
    dists = metadata.packages_distributions()  # top-level import name -> distribution names

    def modules_of(obj: Any) -> list[str]:
        if isinstance(obj, types.ModuleType):
            return [obj.__name__]
        if isinstance(obj, Strategy):
            return modules_of(obj.prepare) + modules_of(obj.signal_nb)
        obj = getattr(obj, "py_func", obj)  # a numba dispatcher: its Python function
        m = getattr(obj, "__module__", None)
        return [m] if isinstance(m, str) else []

    def dists_of(name: str) -> list[str]:
        return sorted(set(dists.get(name.split(".")[0], ())))

    roots = set(modules_of(strat))
    root_dists = {d for r in roots for d in dists_of(r)}
    sources: dict[str, bytes] = {}
    versions: set[str] = set()
    unhashable = False
    stack = list(roots)
    seen: set[str] = set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        mod = sys.modules.get(name)
        path = getattr(mod, "__file__", None)
        resolved = str(Path(path).resolve()) if path else ""
        own = name in roots
        names = dists_of(name)
        for d in names:
            try:
                versions.add(f"{d}=={metadata.version(d)}")
            except metadata.PackageNotFoundError:
                versions.add(f"{d}==?")
        if not resolved or (resolved.startswith(stdlib) and not resolved.startswith(installed)):
            unhashable |= own and not names  # a strategy's code nowhere to read: fail closed
            continue
        if resolved.startswith(installed) and not own and not root_dists.intersection(names):
            continue  # a library (numpy, pandas, numba): its version stands for its code
        try:
            sources[name] = Path(path).read_bytes()
        except OSError:
            unhashable |= own
            continue
        for v in list(vars(mod).values()):
            stack += modules_of(v)
    h = hashlib.sha256()
    for name in sorted(sources):
        h.update(name.encode() + b"\0" + sources[name] + b"\0")
    for v in sorted(versions):
        h.update(b"dist\0" + v.encode() + b"\0")
    if unhashable or not sources:
        h.update(b"unhashable\0" + secrets.token_bytes(16))
    return h.hexdigest()


__all__ = ["strategy_code_hash"]
