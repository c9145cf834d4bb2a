"""The strategy contract shared by the backtest kernels, the fused sweeps and the live pipeline.

A strategy is data plus two functions:

* ``prepare(prices, combos) -> Prepared`` (Python): computes every indicator series the given
  parameter combinations need, **once per unique parameter value**, as rows of one 2-D array
  ``ind`` (rows 0–4 are always open, high, low, close, volume), and for each combination the row
  indices it reads (``cols``) and its scalar parameters (``fpar``).
* ``signal_nb(ind, cols, fpar, state, t0, t1, entries, exits)`` (numba, signature
  :data:`SIGNAL_SIG`): writes the entry/exit signals of bars ``t0..t1-1`` of one combination into
  ``entries[t - t0]`` / ``exits[t - t0]``. A signal at bar ``t`` may only read ``ind[:, :t+1]``.
  ``state`` is a per-combination scratch vector of ``n_state`` floats that persists across calls,
  for signals that need memory (it starts as zeros). The simulation kernels call this function
  block by block, so a sweep never materializes bars × combinations arrays.

Because ``signal_nb`` has an explicit numba signature, every kernel that takes it is compiled once
and cached on disk, whatever the strategy.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numba
import numpy as np
from numba import types

from peaktrade.errors import StrategyError, a_an, bad_value

#: Rows of ``ind`` that always hold the bars.
OPEN, HIGH, LOW, CLOSE, VOLUME = 0, 1, 2, 3, 4

SIGNAL_SIG = types.void(
    types.float64[:, ::1],  # ind: (n_rows, n_bars) indicator rows
    types.int64[::1],  # cols: this combination's indicator row indices
    types.float64[::1],  # fpar: this combination's scalar parameters
    types.float64[::1],  # state: per-combination scratch (n_state floats)
    types.int64,  # t0
    types.int64,  # t1
    types.boolean[::1],  # entries out (index t - t0)
    types.boolean[::1],  # exits out (index t - t0)
)
SIGNAL_FN_TYPE = types.FunctionType(SIGNAL_SIG)

#: Parameters every strategy accepts that are the backtest's protective stops, not signal inputs.
STOP_PARAMS = ("sl_stop", "tp_stop", "sl_trail")


class _PriceArrays(NamedTuple):
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


class Prices(_PriceArrays):
    """Bars as C-contiguous float64 arrays (what ``prepare`` receives): a 5-tuple open, high, low,
    close, volume.

    ``time`` (an attribute, not part of the tuple) holds the bar open times (int64 ns since the
    epoch, UTC) when the bars came from a DataFrame (:func:`prices_from_bars`), else None;
    :meth:`frame` rebuilds the bars from it, e.g. for :func:`peaktrade.data.higher_timeframe`.
    ``memo_budget`` (an attribute, default None: unbounded) is the bytes the pandas level's indicator
    memo of these prices may keep between two ``prepare`` calls (``sweep`` sets its ``max_memory``).
    """

    memo_budget: int | None = None

    def __new__(cls, open: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,  # noqa: A002
                volume: np.ndarray, time: np.ndarray | None = None) -> Prices:
        self = super().__new__(cls, open, high, low, close, volume)
        self.time = time
        return self

    @property
    def n(self) -> int:
        return self.close.shape[0]

    def frame(self):
        """Return the bars as a DataFrame indexed by open time; raise when ``time`` is missing."""
        import pandas as pd

        if self.time is None:
            raise StrategyError("these prices carry no bar times (time=None): build them with prices_from_bars(bars)")
        idx = pd.DatetimeIndex(pd.to_datetime(self.time, unit="ns", utc=True), name="time")
        return pd.DataFrame({"open": self.open, "high": self.high, "low": self.low, "close": self.close,
                             "volume": self.volume}, index=idx)


class Prepared(NamedTuple):
    """Output of ``prepare``: shared indicator rows and the per-combination view into them."""

    ind: np.ndarray  # (n_rows, n_bars) float64
    cols: np.ndarray  # (n_combos, k) int64
    fpar: np.ndarray  # (n_combos, m) float64
    #: One name per row of ``ind`` (e.g. ``"sma(20)"``), for reports such as the lookahead check; may be empty.
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Param:
    """One strategy parameter: type, default, valid range or choices, and help text."""

    name: str
    kind: Literal["int", "float", "bool", "choice"]
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""
    #: Spacing of the search grid between ``low`` and ``high`` (None: no declared grid).
    step: float | None = None

    def coerce(self, value: Any, *, strategy: str) -> Any:
        """Return ``value`` converted to this parameter's type, or raise naming the parameter."""
        where = f"{strategy}.{self.name}"
        try:
            if self.kind == "int":
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise TypeError
                v: Any = int(value)
            elif self.kind == "float":
                if isinstance(value, bool):
                    raise TypeError
                v = float(value)
            elif self.kind == "bool":
                if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                    value = value.lower() in ("true", "1")
                if not isinstance(value, (bool, np.bool_, int)) or value not in (0, 1):
                    raise TypeError
                v = bool(value)
            else:
                v = str(value)
                if v not in self.choices:
                    raise StrategyError(bad_value(where, value, f"one of {', '.join(self.choices)}"))
                return v
        except StrategyError:
            raise
        except (TypeError, ValueError):
            raise StrategyError(bad_value(where, value, a_an(self.kind))) from None
        if self.kind == "float" and math.isnan(v):
            if self.name in STOP_PARAMS:  # a NaN stop is "off"
                return v
            raise StrategyError(bad_value(where, value, "a float (not NaN)" if self.low is None and self.high is None
                                          else f"a float in [{self.low}, {self.high}]"))
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            raise StrategyError(bad_value(where, value, f"{a_an(self.kind)} in [{self.low}, {self.high}]"))
        return v

    def describe(self) -> str:
        """Return ``name: type = default  # help`` with the valid range (and the grid step)."""
        rng = f" in {list(self.choices)}" if self.choices else (
            f" in [{self.low}, {self.high}]" if self.low is not None or self.high is not None else ""
        )
        step = f" step {self.step:g}" if self.step is not None else ""
        return f"{self.name}: {self.kind} = {self.default!r}{rng}{step}  # {self.help}"

    def grid(self) -> list[Any]:
        """Return the declared search values: the choices, both booleans, or ``low..high`` by ``step``."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "bool":
            return [False, True]
        if self.low is None or self.high is None or self.step is None:
            return [self.default]
        vals = np.arange(self.low, self.high + self.step / 2, self.step)
        return [int(round(v)) for v in vals] if self.kind == "int" else [float(v) for v in vals]


@dataclass(frozen=True)
class Constraint:
    """A rule over several parameters, e.g. ``fast < slow``."""

    text: str
    check: Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Strategy:
    """A registered strategy. See the module docstring for the ``prepare``/``signal_nb`` contract."""

    name: str
    summary: str
    params: tuple[Param, ...]
    prepare: Callable[[Prices, Sequence[Mapping[str, Any]]], Prepared]
    signal_nb: Any  # numba dispatcher compiled with SIGNAL_SIG
    constraints: tuple[Constraint, ...] = ()
    n_state: int = 0
    #: Default stops this strategy ships with (e.g. for ``breakout``).
    stop_defaults: Mapping[str, float] = field(default_factory=dict)
    #: Bars of history the signals need before they are meaningful (declared by the author).
    warmup: int = 0
    #: Indicator rows ``prepare`` adds per unique parameter combination (0: rows per unique parameter
    #: value, as the library's numba strategies). The pandas level stores its signals (2 rows) or its
    #: position (1): a sweep prepares such a strategy in chunks of combinations that fit its memory budget.
    rows_per_combo: int = 0
    #: The backtest direction the strategy's signals are written for ("long", "short", "both"), or None
    #: when they suit any (entries/exits strategies). A position strategy declares it: ``run``, ``sweep``,
    #: walk-forward and the sessions then trade that direction unless told otherwise, and an explicit
    #: contradicting ``direction`` option raises (:func:`peaktrade.backtest.options.strategy_options`).
    direction: str | None = None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def defaults(self) -> dict[str, Any]:
        """Return the default signal parameters."""
        return {p.name: p.default for p in self.params}

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return full, coerced signal parameters; raise on unknown names, bad values, broken constraints."""
        unknown = sorted(set(params) - set(self.param_names) - set(STOP_PARAMS))
        if unknown:
            raise StrategyError(
                f"unknown parameter(s) {', '.join(unknown)} for strategy '{self.name}': "
                f"expected some of {', '.join(self.param_names + STOP_PARAMS)}"
            )
        by_name = {p.name: p for p in self.params}
        out = self.defaults()
        for k, v in params.items():
            if k in by_name:
                out[k] = by_name[k].coerce(v, strategy=self.name)
        broken = self.broken_constraint(out)
        if broken is not None:
            shown = ", ".join(f"{k}={out[k]!r}" for k in self.param_names)
            raise StrategyError(f"parameters of '{self.name}' break the constraint '{broken}' ({shown})")
        return out

    def broken_constraint(self, params: Mapping[str, Any]) -> str | None:
        """Return the text of the first constraint ``params`` break, or None."""
        for c in self.constraints:
            try:
                ok = c.check(params)
            except Exception as e:  # e.g. "slow / fast >= 2" at fast=0: name the rule and the values
                shown = ", ".join(f"{k}={params[k]!r}" for k in self.param_names if k in params)
                raise StrategyError(f"strategy '{self.name}': constraint '{c.text}' cannot be evaluated with "
                                    f"{shown} ({type(e).__name__})") from e
            if not ok:
                return c.text
        return None

    def broken_constraints(self, columns: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Return, for parameter sets given as columns (a name -> object array, one element per set, at least
        two sets), the index in ``constraints`` of the first constraint each set breaks (-1: none), from one
        call of each check over the columns; or None when a check cannot be evaluated so.

        Object arrays apply Python's own operators element by element, so a check of comparisons and
        arithmetic (``p["fast"] < p["slow"]``) gives each set what :meth:`broken_constraint` gives it. Any
        other use (``and``/``or``/``if``, a function that needs one number, an error, a result that is not
        one bool per set) gives None: then check each set with :meth:`broken_constraint`, which also
        raises its error. The columns are read-only (a check cannot change a set).
        """
        n = len(next(iter(columns.values()), ()))
        if n < 2:  # one set: bool() of a one-element array works, so only per-set checks are faithful
            return None
        view = MappingProxyType(dict(columns))
        first = np.full(n, -1, dtype=np.int64)
        for i, c in enumerate(self.constraints):
            try:
                ok = c.check(view)
            except Exception:  # e.g. bool() of an array, or a set that raises: per set decides (and explains)
                return None
            if type(ok) is not np.ndarray or ok.shape != (n,):
                return None
            if ok.dtype != np.bool_:
                if ok.dtype != object or not all(type(v) is bool or type(v) is np.bool_ for v in ok):
                    return None
                ok = ok.astype(np.bool_)
            first[(first < 0) & ~ok] = i
        return first


class IndicatorTable:
    """Collects indicator rows for ``prepare``, computing each distinct key once.

    Rows 0–4 are the bars; ``row(key, fn)`` returns the row index of ``key``, calling ``fn()``
    (which returns a float64 array of n_bars) only the first time the key is seen. Each row is
    named after its key (``("sma", 20)`` → ``"sma(20)"``) unless ``name`` is given.

    ``row(key, fn, *args)`` (arguments given) defers the row instead: :meth:`build` computes
    ``fn(*args)`` straight into the table, the deferred rows in parallel on a thread pool (up to
    ``numba.get_num_threads()`` threads) when there is enough work. The arguments are bound when
    ``row`` is called, so a loop variable cannot change what a row computes; ``fn`` must be a pure
    function of them, and runs in parallel only if it releases the GIL (the ``nogil`` kernels of
    :mod:`peaktrade.indicators.nb`, e.g. ``tab.row(("sma", w), sma_nb, close, w)``).

    ``rows(keys, fn, *args)`` defers a batch of rows that one function computes together (e.g. many
    SMAs at once, :func:`~peaktrade.indicators.nb.sma_rows_nb`); see :meth:`rows`.
    """

    #: Deferred bar-rows below which :meth:`build` computes in the calling thread (a pool costs ~0.1 ms).
    PARALLEL_MIN_BARS = 200_000
    #: Bar ranges per thread a batch of :meth:`rows` is split into when :meth:`build` runs in parallel.
    BATCH_PIECES = 4

    def __init__(self, prices: Prices) -> None:
        self.prices = prices
        #: an array (computed now), ``(fn, args, key)`` (deferred to :meth:`build`) or None (in a batch) per row
        self._rows: list[Any] = [prices.open, prices.high, prices.low, prices.close, prices.volume]
        self._names: list[str] = ["open", "high", "low", "close", "volume"]
        self._index: dict[Any, int] = {}
        #: ``(first row, keys, fn, args)`` per batch of :meth:`rows`
        self._batches: list[tuple[int, tuple[Any, ...], Callable[..., Any], tuple[Any, ...]]] = []

    def row(self, key: Any, fn: Callable[..., np.ndarray], *args: Any, name: str | None = None) -> int:
        if key not in self._index:
            self._rows.append((fn, args, key) if args else self._checked(key, fn()))
            self._index[key] = len(self._rows) - 1
            self._names.append(name if name is not None else row_name(key))
        return self._index[key]

    def rows(self, keys: Sequence[Any], fn: Callable[..., Any], *args: Any,
             names: Sequence[str] | None = None) -> list[int]:
        """Defer a batch of rows computed by one call; return the row index of each key.

        :meth:`build` calls ``fn(*args, out, start, stop)``, where ``out`` is the batch's block of the
        table (``len(keys)`` consecutive rows of n_bars, C-contiguous float64, row ``j`` for ``keys[j]``):
        ``fn`` writes bars ``start..stop-1`` of every row and returns None. ``build`` may call it on
        several threads for disjoint bar ranges (so ``fn`` must release the GIL to gain from it), e.g.
        ``tab.rows([("sma", w) for w in ws], sma_rows_nb, close, np.array(ws))``. Rows are named
        after their keys unless ``names`` are given.

        A key the table already has keeps its row, as with :meth:`row` (a key's first row is its row):
        its index is returned, and the batch's own row for it is computed but not referred to.
        """
        keys = tuple(keys)
        if names is not None and len(names) != len(keys):
            raise ValueError(f"indicator rows {list(keys)!r}: got {len(names)} names, expected {len(keys)}")
        if not keys:
            return []
        first = len(self._rows)
        self._batches.append((first, keys, fn, args))
        for j, key in enumerate(keys):
            self._rows.append(None)
            self._names.append(names[j] if names is not None else row_name(key))
            self._index.setdefault(key, first + j)
        return [self._index[key] for key in keys]

    def _checked(self, key: Any, values: Any) -> np.ndarray:
        arr = np.ascontiguousarray(values, dtype=np.float64)
        if arr.shape != (self.prices.n,):
            raise ValueError(f"indicator {key!r} has shape {arr.shape}, expected ({self.prices.n},)")
        return arr

    def build(self, cols: Sequence[Sequence[int]], fpar: Sequence[Sequence[float]]) -> Prepared:
        """Return the :class:`Prepared` triple; ``cols``/``fpar`` have one row per combination."""
        n = len(cols)
        c = np.ascontiguousarray(np.asarray(cols, dtype=np.int64).reshape(n, -1))
        f = np.ascontiguousarray(np.asarray(fpar, dtype=np.float64).reshape(n, -1))
        if c.shape[1] == 0:
            c = np.zeros((n, 1), dtype=np.int64)
        if f.shape[1] == 0:
            f = np.zeros((n, 1), dtype=np.float64)
        return Prepared(self._table(), c, f, tuple(self._names))

    def _table(self) -> np.ndarray:
        """Return the rows as one C-contiguous (n_rows, n_bars) array, computing the deferred ones into it."""
        n = self.prices.n
        ind = np.empty((len(self._rows), n))
        deferred = []
        for i, r in enumerate(self._rows):
            if isinstance(r, tuple):
                deferred.append(i)
            elif r is not None:
                ind[i] = r

        def fill(i: int) -> None:
            fn, args, key = self._rows[i]
            ind[i] = self._checked(key, fn(*args))

        def fill_batch(b: int, start: int, stop: int) -> None:
            first, keys, fn, args = self._batches[b]
            out = ind[first:first + len(keys)]
            try:
                res = fn(*args, out, start, stop)
            except ValueError as e:
                raise ValueError(f"indicator rows {list(keys)!r} into out of shape {out.shape}: {e}") from e
            if res is not None:
                raise ValueError(f"indicator rows {list(keys)!r}: fn must write them into out (shape "
                                 f"{out.shape}) and return None, it returned {type(res).__name__}")

        # numba.get_num_threads() launches numba's thread pool: ask only when there is work to share
        work = (len(deferred) + sum(len(b[1]) for b in self._batches)) * n
        big = (len(deferred) > 1 or len(self._batches) > 0) and work >= self.PARALLEL_MIN_BARS
        threads = numba.get_num_threads() if big else 1
        # a batch in pieces of bars: a few per thread, so that a thread slowed by other work is made up for
        pieces = self.BATCH_PIECES * threads if threads > 1 else 1
        tasks = [(fill, (i,)) for i in deferred] + [
            (fill_batch, (b, n * p // pieces, n * (p + 1) // pieces))
            for b in range(len(self._batches)) for p in range(pieces)]
        threads = min(threads, len(tasks))
        if threads > 1:
            for _ in _row_pool(threads).map(lambda t: t[0](*t[1]), tasks):  # re-raises a row's error here
                pass
        else:
            for f, a in tasks:
                f(*a)
        return ind


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _row_pool(threads: int) -> ThreadPoolExecutor:
    """Return the process's pool of ``threads`` row threads (kept: starting threads costs ms on a busy machine)."""
    pool = _POOLS.get(threads)
    if pool is None:  # setdefault: of two racing callers' pools one is kept (the other never started a thread)
        pool = _POOLS.setdefault(threads, ThreadPoolExecutor(threads, thread_name_prefix="peaktrade-rows"))
    return pool


# a forked child inherits the pools but not their threads: it starts its own
os.register_at_fork(after_in_child=_POOLS.clear)


def row_name(key: Any) -> str:
    """Return the display name of an indicator key: ``("sma", 20)`` → ``"sma(20)"``."""
    if isinstance(key, tuple) and len(key) == 1 and isinstance(key[0], str):
        return key[0]
    if isinstance(key, tuple) and key and isinstance(key[0], str):
        return f"{key[0]}({', '.join(str(v) for v in key[1:])})"
    return str(key)


def prices_from_bars(bars: Any) -> Prices:
    """Return :class:`Prices` (C-contiguous float64 arrays) from a bars DataFrame."""
    import pandas as pd

    time = bars.index.as_unit("ns").asi8.copy() if isinstance(bars.index, pd.DatetimeIndex) else None
    return Prices(*(np.ascontiguousarray(bars[c].to_numpy(dtype=np.float64)) for c in
                    ("open", "high", "low", "close", "volume")), time=time)


def signal_arrays(strategy: Strategy, prices: Prices, params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Return (entries, exits) bool arrays of one resolved parameter set over all bars."""
    prep = strategy.prepare(prices, [params])
    n = prices.n
    entries = np.zeros(n, dtype=np.bool_)
    exits = np.zeros(n, dtype=np.bool_)
    state = np.zeros(max(strategy.n_state, 1), dtype=np.float64)
    strategy.signal_nb(prep.ind, prep.cols[0], prep.fpar[0], state, 0, n, entries, exits)
    return entries, exits
