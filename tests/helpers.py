"""Helpers shared by the whole suite (``from helpers import ...``; tests/ is on sys.path through conftest.py):
the one random-bars generator, the one TOML writer, and notebook discovery."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]


# -- bars ---------------------------------------------------------------------------------------------------
def random_bars(
    n: int | None = None,
    *,
    times: Sequence[Any] | pd.DatetimeIndex | None = None,
    start: str = "2023-01-01",
    freq: str = "1h",
    close: Sequence[float] | np.ndarray | None = None,
    seed: int = 0,
    vol: float = 0.01,
    drift: float = 0.0,
    trades: bool = False,
) -> pd.DataFrame:
    """Return seeded, valid OHLCV bars (UTC open times, index named ``time``).

    The closes are a geometric random walk from 100 (log returns ~ N(``drift``, ``vol``)), each open the
    previous close (100 for the first) times exp(N(0, vol/5)); or the given ``close``, each open exactly the
    previous close (the first: its own close); highs
    and lows wrap open and close by exp(|N(0, vol/2)|); volume is uniform in [1, 10); ``trades`` adds an
    integer trade count. The bars are ``n`` bars from ``start`` every ``freq``, or the given ``times``.
    """
    if times is not None:
        index = pd.DatetimeIndex(pd.to_datetime(times, utc=True), name="time").as_unit("ns")
    else:
        if n is None:
            raise TypeError("random_bars needs n or times")
        index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="time").as_unit("ns")
    m = len(index)
    rng = np.random.default_rng(seed)
    if close is None:
        c = 100.0 * np.exp(np.cumsum(rng.normal(drift, vol, m)))
        o = np.r_[100.0, c[:-1]][:m] * np.exp(rng.normal(0.0, vol / 5, m))
    else:  # the caller's closes: each open is exactly the previous close (tests compute from them)
        c = np.asarray(close, dtype=float)
        if len(c) != m:
            raise ValueError(f"close has {len(c)} values for {m} bars")
        o = np.r_[c[:1], c[:-1]][:m]
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0.0, vol / 2, m)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0.0, vol / 2, m)))
    cols = {"open": o, "high": h, "low": lo, "close": c, "volume": rng.uniform(1, 10, m)}
    if trades:
        cols["trades"] = rng.integers(1, 50, m).astype(float)
    return pd.DataFrame(cols, index=index)


# -- TOML ---------------------------------------------------------------------------------------------------
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_toml(path: Path, data: Mapping[str, Any] | str) -> Path:
    """Write ``data`` to ``path`` as TOML (parents created) and return ``path``.

    ``data`` is TOML text as is, or a mapping: scalars, lists and inline tables at the top, and
    ``{section: {key: value}}`` sections (a section nested under a dotted name, ``"testnet.profiles.x"``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        text = data
    else:
        top = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)]
        lines = [*top, ""] if top else []
        for section, values in data.items():
            if isinstance(values, Mapping):
                lines.append(f"[{section}]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
                lines.append("")
        text = "\n".join(lines)
    path.write_text(text, encoding="utf-8")
    return path


# -- notebooks ----------------------------------------------------------------------------------------------
#: Every notebook of the project, discovered: a new notebook is tested without naming it anywhere.
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
#: The parameters every research notebook declares (data selection, and what the batch runner sets).
RESEARCH_PARAMS = ("symbol", "timeframe", "exchange", "start", "end", "track", "parent_run_id")
_PARAM = re.compile(r"^([a-z_][a-z0-9_]*)\s*:", re.M)


def notebook_source(path: Path) -> str:
    """Return the code of every code cell of ``path``, joined."""
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def declared_parameters(path: Path) -> list[str]:
    """Return the names the ``parameters`` cell of ``path`` declares (``name: type = default  # help``)."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return _PARAM.findall(cells[0].source) if cells else []


def research_notebooks() -> list[Path]:
    """Return the research notebooks: those declaring every :data:`RESEARCH_PARAMS` (run with defaults by
    tests/notebooks; a notebook of another kind, e.g. a testnet session, has its own test)."""
    return [p for p in NOTEBOOKS if set(RESEARCH_PARAMS) <= set(declared_parameters(p))]
