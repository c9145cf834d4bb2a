"""The parameter-grid grammar, one for the CLI (``--grid``), experiment specs (``[grid]``, a notebook's
``grid`` parameter) and notebooks.

A grid maps a parameter name to the values it takes. A value list is written one of three ways:

* ``START:STOP[:STEP]``: a range, STOP exclusive, STEP 1 by default; integers when all three are
  integers (``5:50:5`` → 5, 10, …, 45), else floats rounded to 12 digits (``0.01:0.04:0.01``);
* ``A,B,C``: a list, each value read by :func:`parse_value` (``sma,ema``, ``10,20``);
* ``V``: one value.

On the command line each entry is ``NAME=SPEC`` (``--grid fast=5:50:5``); in a spec or a notebook a grid
is a mapping whose values are either a list (TOML/Python, used as given) or a SPEC string
(``grid = { fast = "5:50:5", slow = [60, 80] }``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from peaktrade.errors import PeakTradeError

__all__ = ["parse_grid", "parse_value", "parse_values"]

_RANGE = "START:STOP[:STEP] with numbers"


def parse_value(raw: str) -> Any:
    """Return ``raw`` as int, float or bool when it reads as one, else the string."""
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def parse_values(spec: str, *, what: str = "grid value") -> list[Any]:
    """Return the values a SPEC string stands for (``START:STOP[:STEP]``, ``A,B,C`` or ``V``).

    Raises
    ------
    PeakTradeError
        Naming ``what`` and the expected forms, when the range is malformed or empty, or no value is given.
    """
    spec = spec.strip()
    if ":" in spec:
        parts = [parse_value(p.strip()) for p in spec.split(":")]
        if len(parts) not in (2, 3) or not all(isinstance(p, (int, float)) and not isinstance(p, bool)
                                                for p in parts):
            raise PeakTradeError(f"{what} is invalid: expected {_RANGE}")
        start, stop = parts[0], parts[1]
        step = parts[2] if len(parts) == 3 else 1
        if step <= 0 or stop <= start:
            raise PeakTradeError(f"{what} is invalid: expected START < STOP and STEP > 0")
        if all(isinstance(p, int) for p in parts):
            return list(range(start, stop, step))
        # the count rounds down (0.1:0.35:0.1 has three values, not round(2.5) = two); a value within
        # float noise of STOP is STOP itself and excluded
        k = int(math.floor((stop - start) / step + 1e-9)) + 1
        values = [round(start + i * step, 12) for i in range(k)]
        return [v for v in values if v < stop - step * 1e-9]
    values = [parse_value(v.strip()) for v in spec.split(",") if v.strip()]
    if not values:
        raise PeakTradeError(f"{what} is invalid: expected {_RANGE}, A,B,C or one value")
    return values


def parse_grid(grid: Mapping[str, Any] | Iterable[str] | None, *, what: str = "--grid") -> dict[str, list[Any]]:
    """Return ``{name: [values]}`` from a grid written in the grid grammar.

    Parameters
    ----------
    grid
        Either ``NAME=SPEC`` strings (the CLI's repeated ``--grid``), or a mapping of name to a non-empty
        list (taken as given) or a SPEC string (a spec's ``[grid]``, a notebook's ``grid`` parameter).
        None is an empty grid.
    what
        How errors name the entries' origin (``--grid``, ``grid``, a spec's path).

    Raises
    ------
    PeakTradeError
        One line naming the entry and the expected forms.
    """
    out: dict[str, list[Any]] = {}
    if grid is None:
        return out
    if isinstance(grid, Mapping):
        for name, spec in grid.items():
            label = f"{what} entry {name!r}"
            if isinstance(spec, str):
                out[str(name)] = parse_values(spec, what=f"{label} ({spec!r})")
            elif isinstance(spec, (list, tuple)) and spec:
                out[str(name)] = list(spec)
            else:
                raise PeakTradeError(f"{label} is invalid ({spec!r}): expected a non-empty list or a string "
                                     f"{_RANGE}, A,B,C or one value")
        return out
    if isinstance(grid, str):
        grid = [grid]
    for item in grid:
        name, sep, spec = item.partition("=")
        name, spec = name.strip(), spec.strip()
        if not sep or not name or not spec:
            raise PeakTradeError(f"{what} {item!r} is invalid: expected NAME=START:STOP[:STEP] or NAME=A,B,C")
        out[name] = parse_values(spec, what=f"{what} {item!r}")
    return out
