"""The pandas authoring level: a strategy written as a class with a vectorized ``signals`` method.

A user subclasses :class:`PandasStrategy`, declares ``name``, ``summary``, typed ``params`` (each
with a default and a search range or choices), ``constraints``, ``stop_defaults`` and ``warmup``, and
writes either ``signals(self, bars, **params) -> (entries, exits)`` or
``position(self, bars, **params) -> target position`` (see :attr:`PandasStrategy.direction`).
:meth:`PandasStrategy.to_strategy` turns it into the engine's :class:`~peaktrade.strategies.base.Strategy`:
``prepare`` calls the author's method once per unique parameter combination (in a thread pool) and
stores its outputs as indicator rows, and one compiled kernel
(:func:`~peaktrade.strategies.nb.precomputed_signal_nb`) maps them onto entries/exits, so the same
simulators, sweeps, stats, reports, paper replay and lookahead check run it.

Indicators computed through :meth:`PandasStrategy.indicator` (and :meth:`PandasStrategy.higher_timeframe`)
are memoized per bars: combinations that share ``fast=20`` compute SMA(20) once per sweep, and each
unique indicator is also stored as a named row, so the lookahead check names the indicator that leaks.
"""

from __future__ import annotations

import ast
import hashlib
import operator
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from peaktrade.errors import StrategyError
from peaktrade.strategies.base import STOP_PARAMS, Constraint, IndicatorTable, Param, Prepared, Prices, Strategy

_OPS: dict[type, Callable[..., Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Eq: operator.eq,
    ast.NotEq: operator.ne, ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.USub: operator.neg,
    ast.Not: operator.not_,
}


def parse_constraint(text: str, names: Sequence[str], *, strategy: str) -> Constraint:
    """Return a :class:`Constraint` from an expression over parameter names, e.g. ``"fast < slow"``.

    Only comparisons, arithmetic, ``and``/``or``/``not``, parameter names and literals are allowed
    (the expression is evaluated on its syntax tree, never with ``eval``).
    """
    where = f"strategy '{strategy}': constraint {text!r}"
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise StrategyError(f"{where} is not an expression: expected e.g. 'fast < slow'") from None

    def check_node(node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise StrategyError(f"{where} names {node.id!r}: expected parameters among {', '.join(names)}")
            return
        ok = (ast.Compare, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Constant, ast.And, ast.Or, ast.Load,
              *_OPS)
        if not isinstance(node, ok):
            raise StrategyError(f"{where} uses {type(node).__name__}: expected comparisons, arithmetic, "
                                "and/or/not over parameter names and numbers")
        for child in ast.iter_child_nodes(node):
            check_node(child)

    check_node(tree)

    def ev(node: ast.AST, p: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Name):
            return p[node.id]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp):
            return _OPS[type(node.op)](ev(node.operand, p))
        if isinstance(node, ast.BinOp):
            return _OPS[type(node.op)](ev(node.left, p), ev(node.right, p))
        if isinstance(node, ast.BoolOp):
            vals = (ev(v, p) for v in node.values)
            return all(vals) if isinstance(node.op, ast.And) else any(vals)
        assert isinstance(node, ast.Compare)
        left = ev(node.left, p)
        for op, right_node in zip(node.ops, node.comparators):
            right = ev(right_node, p)
            if not _OPS[type(op)](left, right):
                return False
            left = right
        return True

    return Constraint(text, lambda p: bool(ev(tree, p)))


class PandasStrategy:
    """Base class of a strategy written with pandas/numpy (see docs/strategies.md).

    Class attributes
    ----------------
    name : str
        Registry name (an identifier).
    summary : str
        One line shown by ``peaktrade strategies list``.
    params : tuple of Param
        Typed parameters; an int/float one needs ``low`` and ``high`` (its search range; ``step``
        spaces its grid), a ``"choice"`` one its ``choices``.
    constraints : tuple
        Rules between parameters: expressions such as ``"fast < slow"``, :class:`Constraint`\\ s, or
        callables ``f(params) -> bool``.
    stop_defaults : dict
        Default ``sl_stop``/``tp_stop``/``sl_trail`` of the backtest.
    warmup : int
        Bars after which the signals no longer depend on older bars: the longest indicator window
        (plus any shift); for a recursive indicator 20 × its span (``ewm(span=s)``) or 40 / α. Polled
        sessions recompute on ``max(2 * warmup, 1000)`` bars (docs/sessions.md).
    direction : str
        Only for :meth:`position`: the backtest direction its target positions are written for, which
        fixes how they map onto the engine's entries/exits (run the strategy with that ``direction``):
        ``"long"`` positions in {0, 1} (1 = entry, 0 = exit), ``"short"`` in {-1, 0} (-1 = entry,
        0 = exit), ``"both"`` in {-1, 1} (1 = entry: long, -1 = exit: short; the engine's "both" has no
        flat state, so 0 is allowed only before the first -1/1, where it means no signal).
    workers : int or None
        Threads that call ``signals``/``position`` for the unique parameter combinations of one
        ``prepare`` (a sweep); None: the number of CPUs.

    ``signals(self, bars, **params)`` returns ``(entries, exits)``: bool (or 0/1) Series or arrays
    with one value per bar of ``bars`` (a DataFrame open, high, low, close, volume indexed by bar
    open time). ``position(self, bars, **params)`` instead returns one target position per bar
    (numbers, see ``direction``). The value at bar ``t`` may only depend on bars ``<= t``.
    A class defines one of the two. Both may be called from several threads at once: keep them
    free of shared mutable state (``bars`` is each call's own shallow copy).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    constraints: ClassVar[tuple[str | Constraint | Callable[[Mapping[str, Any]], bool], ...]] = ()
    stop_defaults: ClassVar[Mapping[str, float]] = {}
    warmup: ClassVar[int] = 0
    direction: ClassVar[str] = "long"
    workers: ClassVar[int | None] = None

    def signals(self, bars: pd.DataFrame, **params: Any) -> tuple[Any, Any]:
        """Return ``(entries, exits)`` for every bar of ``bars``; override this or :meth:`position`."""
        raise NotImplementedError(f"{type(self).__name__}.signals(bars, **params) is not implemented")

    def position(self, bars: pd.DataFrame, **params: Any) -> Any:
        """Return the target position of every bar of ``bars`` (see :attr:`direction`); override this or
        :meth:`signals`."""
        raise NotImplementedError(f"{type(self).__name__}.position(bars, **params) is not implemented")

    @classmethod
    def _output(cls) -> str | None:
        """Return ``"signals"`` or ``"position"`` (the method the class overrides), ``"both"`` or None."""
        sig = cls.signals is not PandasStrategy.signals
        pos = cls.position is not PandasStrategy.position
        return "both" if sig and pos else ("signals" if sig else ("position" if pos else None))

    @classmethod
    def is_concrete(cls) -> bool:
        """Return True when the class names itself and overrides :meth:`signals` or :meth:`position`
        (so it can be registered)."""
        return bool(cls.name) and cls._output() is not None

    def indicator(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Return ``fn(*args, **kwargs)``, computed once per bars for all the combinations of a sweep.

        Call it inside ``signals``/``position``, e.g. ``self.indicator(sma, bars["close"], window=fast)``.
        The result is memoized on ``fn`` and the arguments: columns of ``bars`` and ``bars`` itself by
        name, other arrays by content, everything else by value (it must be hashable). Pass a function
        defined once (a module-level one), not a lambda made per call. A 1-D numeric result (or each
        numeric column of a DataFrame result) is also stored as an indicator row named after the call,
        which the lookahead check names when it leaks. Pandas results are returned as shallow copies
        (copy-on-write: changing one never changes the memo); arrays are returned read-only.
        Outside ``prepare`` (e.g. calling ``signals`` in a notebook) it simply calls ``fn``.
        """
        memo = getattr(_active, "memo", None)
        if memo is None:
            return fn(*args, **kwargs)
        return memo.get(fn, args, kwargs, _active.used)

    def higher_timeframe(self, bars: pd.DataFrame, timeframe: str, *, source_timeframe: str | None = None
                         ) -> pd.DataFrame:
        """Return the last CLOSED ``timeframe`` bar as of each bar of ``bars`` (on ``bars``' index):
        :func:`peaktrade.data.higher_timeframe`, memoized like :meth:`indicator`. A daily bar becomes
        visible on the first bar that opens after it closed, so it passes the lookahead check. Pass
        ``source_timeframe`` (e.g. ``"1h"``): inferring it from a short or gappy history can fail."""
        from peaktrade.data import higher_timeframe

        return self.indicator(higher_timeframe, bars, timeframe, source_timeframe=source_timeframe)

    def to_strategy(self) -> Strategy:
        """Return the engine's :class:`Strategy` for this class; raise naming what is wrong with it."""
        label = self.name or type(self).__name__
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise StrategyError(f"strategy class {type(self).__name__}: name={self.name!r} is invalid: "
                                "expected an identifier such as 'my_crossover'")
        params = tuple(self.params)
        for p in params:
            if not isinstance(p, Param):
                raise StrategyError(f"strategy '{label}': params entry {p!r} is invalid: expected a Param")
            if p.kind in ("int", "float") and (p.low is None or p.high is None):
                raise StrategyError(f"strategy '{label}': parameter {p.name!r} has no search range: "
                                    "expected low= and high=")
            if p.kind == "choice" and not p.choices:
                raise StrategyError(f"strategy '{label}': parameter {p.name!r} has no choices")
            p.coerce(p.default, strategy=label)  # a default outside its range raises naming it
        names = [p.name for p in params]
        constraints = []
        for c in self.constraints:
            if isinstance(c, str):
                constraints.append(parse_constraint(c, names, strategy=label))
            elif isinstance(c, Constraint):
                constraints.append(c)
            elif callable(c):
                constraints.append(Constraint(getattr(c, "__name__", "constraint"), c))
            else:
                raise StrategyError(f"strategy '{label}': constraint {c!r} is invalid: expected an expression "
                                    "string, a Constraint or a callable")
        bad_stops = sorted(set(self.stop_defaults) - set(STOP_PARAMS))
        if bad_stops:
            raise StrategyError(f"strategy '{label}': stop_defaults {bad_stops} are invalid: expected keys among "
                                f"{', '.join(STOP_PARAMS)}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise StrategyError(f"strategy '{label}': warmup={self.warmup!r} is invalid: expected an int >= 0 (bars)")
        output = self._output()
        if output in (None, "both"):
            raise StrategyError(f"strategy '{label}' defines {'neither' if output is None else 'both'} signals() "
                                "and position(): expected exactly one of them")
        if self.direction not in _POSITION_MODE:
            raise StrategyError(f"strategy '{label}': direction={self.direction!r} is invalid: expected one of "
                                f"{', '.join(_POSITION_MODE)}")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise StrategyError(f"strategy '{label}': workers={self.workers!r} is invalid: expected an int >= 1 "
                                "or None")
        def prepare(prices: Prices, combos: Sequence[Mapping[str, Any]]) -> Prepared:
            return self._prepare(prices, combos)

        # the author's module, not this one: what the source hash of the strategy (provenance) must cover
        prepare.__module__ = type(self).__module__
        prepare.__qualname__ = f"{type(self).__qualname__}.prepare"
        strat = Strategy(name=self.name, summary=self.summary or (type(self).__doc__ or "").strip().split("\n")[0],
                         params=params, prepare=prepare, signal_nb=_kernel(),
                         constraints=tuple(constraints), stop_defaults=dict(self.stop_defaults),
                         warmup=self.warmup, rows_per_combo=2 if output == "signals" else 1,
                         direction=self.direction if output == "position" else None)
        strat.resolve({})  # the defaults must satisfy the constraints
        return strat

    def _prepare(self, prices: Prices, combos: Sequence[Mapping[str, Any]]) -> Prepared:
        memo = _memo_of(prices)
        names = [p.name for p in self.params]
        position = self._output() == "position"
        uniq: dict[tuple[Any, ...], dict[str, Any]] = {}
        for p in combos:  # each unique parameter combination once (a swept stop repeats them)
            uniq.setdefault(tuple(p[k] for k in names), {k: p[k] for k in names})

        used: set[Any] = set()  # the memoized indicators these combinations read (the chunk's rows)

        def compute(params: dict[str, Any]) -> tuple[np.ndarray, ...]:
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
            where = f"strategy '{self.name}'" + (f" ({shown})" if shown else "")
            outer = getattr(_active, "memo", None), getattr(_active, "used", None)  # a run() inside signals()
            _active.memo, _active.used = memo, used
            method = "position" if position else "signals"
            try:
                out = getattr(self, method)(memo.bars.copy(deep=False), **params)
            except StrategyError as e:
                if str(e).startswith("strategy '"):
                    raise
                raise StrategyError(f"{where}: {method}() failed: {e}") from e
            except Exception as e:  # the author's code: say which strategy and combination, keep the cause
                first = " ".join(str(e).split())[:300]  # one line, even for a multi-line message
                raise StrategyError(f"{where}: {method}() raised {type(e).__name__}" + (f": {first}" if first else "")
                                    ) from e
            finally:
                _active.memo, _active.used = outer
            if position:
                return (_position_row(out, memo.bars, where, self.direction),)
            return self._check_output(out, memo.bars, where)

        todo = list(uniq.values())
        workers = min(self.workers or os.cpu_count() or 1, len(todo))
        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix=f"{self.name}-signals") as pool:
                outs = list(pool.map(compute, todo))
        else:
            outs = [compute(p) for p in todo]
        tab = IndicatorTable(prices)
        for key, row_name_, arr in memo.rows(used):  # the memoized indicators, named (for the lookahead check)
            tab.row(("indicator", key), lambda arr=arr: arr, name=row_name_)
        rows: dict[tuple[Any, ...], list[int]] = {}
        what = ("position",) if position else ("entries", "exits")
        for key, params, out in zip(uniq, todo, outs):
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
            idx = [tab.row((w, key), lambda a=a: a, name=f"{w}({shown})") for w, a in zip(what, out)]
            rows[key] = idx * 2 if position else idx
        mode = float(_POSITION_MODE[self.direction]) if position else 0.0
        memo.trim()  # this chunk's rows are in the table: keep only what the memory budget allows
        return tab.build([rows[tuple(p[k] for k in names)] for p in combos], [[mode] for _ in combos])

    def _check_output(self, out: Any, bars: pd.DataFrame, where: str) -> tuple[np.ndarray, np.ndarray]:
        if not (isinstance(out, tuple | list) and len(out) == 2):
            raise StrategyError(f"{where}: signals() returned {type(out).__name__}: expected a tuple (entries, exits)")
        return (_signal_row(out[0], "entries", bars, where), _signal_row(out[1], "exits", bars, where))


#: ``fpar[0]`` of a position strategy's combinations: how ``precomputed_signal_nb`` maps the position
#: row onto entries/exits (0 = entries/exits rows of ``signals``).
_POSITION_MODE = {"long": 1, "short": 2, "both": 3}
_POSITION_VALUES = {"long": (0.0, 1.0), "short": (-1.0, 0.0), "both": (-1.0, 1.0)}

#: The memo of the ``prepare`` running in this thread (set around each signals/position call).
_active = threading.local()


class _Slot:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class _Memo:
    """The bars of one :class:`Prices` as a DataFrame and the indicators computed on them.

    It lives on the ``Prices`` object (``prepare``'s input), so the chunks of one sweep share it and it
    goes away with the sweep; truncated histories (the lookahead check, live windows) are new objects
    and never see another history's values. ``prices.memo_budget`` (bytes; a sweep sets its
    ``max_memory``) bounds what it keeps between two ``prepare`` calls: :meth:`trim` drops the least
    recently used results beyond it (a later chunk that needs one computes it again).
    """

    def __init__(self, prices: Prices) -> None:
        self.bars = _frame(prices)
        self._cols = {_buffer(self.bars[c]): c for c in self.bars.columns}
        self._lock = threading.Lock()
        self._slots: OrderedDict[Any, _Slot] = OrderedDict()  # least recently used first
        self._names: dict[Any, str] = {}
        self.budget: int | None = getattr(prices, "memo_budget", None)
        #: how many times ``fn`` ran (the tests count unique indicators with it)
        self.computed = 0

    def _on_bars(self, v: pd.Series | pd.DataFrame) -> bool:
        return v.index is self.bars.index or (len(v.index) == len(self.bars) and v.index.equals(self.bars.index))

    def _arg_key(self, v: Any, fn_name: str) -> tuple[Any, str]:
        """Return (hashable key, display text) of one argument: pandas objects by values, labels and index."""
        if isinstance(v, pd.Series | pd.DataFrame):
            labels = (repr(v.name),) if isinstance(v, pd.Series) else tuple(repr(c) for c in v.columns)
            on_bars = self._on_bars(v)
            where = ("bars", repr(v.index.name)) if on_bars else _index_digest(v.index)
            cols = ([self._cols.get(_buffer(v.iloc[:, i])) for i in range(v.shape[1])]
                    if isinstance(v, pd.DataFrame) else [self._cols.get(_buffer(v))]) if on_bars else [None]
            if cols and None not in cols:  # columns of bars themselves: by name, no hashing of their values
                shown = [str(c) for c in (v.columns if isinstance(v, pd.DataFrame) else [v.name])]
                if isinstance(v, pd.Series):
                    text = cols[0] if shown == cols else f"{cols[0]} as {v.name!r}"
                elif shown == list(self.bars.columns) and cols == shown:
                    text = "bars"
                else:
                    text = f"bars[{','.join(shown)}]"
                return ("bars", tuple(cols), labels, where), text
        if isinstance(v, pd.Series | np.ndarray | pd.DataFrame):
            arr = np.ascontiguousarray(v.to_numpy() if hasattr(v, "to_numpy") else v)
            digest = hashlib.blake2b(arr.view(np.uint8).ravel() if arr.dtype.kind in "biuf" else
                                     repr(arr.tolist()).encode(), digest_size=16).hexdigest()
            extra = (labels, where) if isinstance(v, pd.Series | pd.DataFrame) else None
            return ("array", type(v).__name__, arr.shape, arr.dtype.str, digest, extra), f"array#{digest[:8]}"
        try:
            hash(v)
        except TypeError:
            raise StrategyError(f"indicator({fn_name}, ...): an argument of type {type(v).__name__} is not hashable: "
                                "expected a column of bars, bars, an array or a hashable value (e.g. a tuple, "
                                "not a list)") from None
        return ("value", type(v).__name__, v), repr(v)

    def get(self, fn: Callable[..., Any], args: tuple, kwargs: dict, used: set[Any]) -> Any:
        fn_name = getattr(fn, "__name__", "indicator")
        parts = [self._arg_key(a, fn_name) for a in args]
        for k, v in sorted(kwargs.items()):
            akey, text = self._arg_key(v, fn_name)
            parts.append(((k, akey), f"{k}={text}"))
        key = (getattr(fn, "__module__", None), getattr(fn, "__qualname__", None), fn,
               tuple(k for k, _ in parts))
        with self._lock:
            used.add(key)
            slot = self._slots.get(key)
            owner = slot is None
            if owner:
                slot = self._slots[key] = _Slot()
                self._names[key] = f"{fn_name}({', '.join(t for _, t in parts)})"
            else:
                self._slots.move_to_end(key)
        if owner:
            try:
                slot.value = _freeze(fn(*args, **kwargs))
                with self._lock:
                    self.computed += 1
            except BaseException as e:
                slot.error = e
                raise
            finally:
                slot.done.set()
        else:
            slot.done.wait()
            if slot.error is not None:
                raise slot.error
        return _hand_out(slot.value)

    def rows(self, keys: set[Any]) -> list[tuple[Any, str, np.ndarray]]:
        """Return (key, name, float64 row) of the memoized numeric results among ``keys`` with one value per
        bar (each numeric column of a DataFrame result)."""
        out = []
        n = len(self.bars)
        with self._lock:
            items = [(k, self._names[k], s.value) for k, s in self._slots.items() if k in keys
                     and s.done.is_set() and s.error is None]
        for key, name, v in items:
            if not isinstance(v, np.ndarray | pd.Series | pd.DataFrame):  # e.g. a tuple: not one row per bar
                continue
            cols = ([(c, v[c]) for c in v.columns] if isinstance(v, pd.DataFrame) else [(None, v)])
            for c, col in cols:
                arr = np.asarray(col.to_numpy() if hasattr(col, "to_numpy") else col)
                if arr.shape == (n,) and arr.dtype.kind in "biuf":
                    out.append(((key, c), name if c is None else f"{name}.{c}", arr.astype(np.float64)))
        return out

    def trim(self) -> None:
        """Drop the least recently used finished results until the memo holds at most ``budget`` bytes."""
        if self.budget is None:
            return
        with self._lock:
            sizes = {k: _nbytes(s.value) for k, s in self._slots.items() if s.done.is_set()}
            total = sum(sizes.values())
            for k in list(self._slots):
                if total <= self.budget:
                    break
                if k in sizes:
                    total -= sizes[k]
                    del self._slots[k]
                    del self._names[k]


def _freeze(v: Any) -> Any:
    """Return a memoized result made safe to share: arrays read-only (also inside tuples, lists, dicts)."""
    if isinstance(v, np.ndarray):
        v = v.view()
        v.setflags(write=False)
        return v
    if isinstance(v, tuple | list):
        return type(v)(_freeze(x) for x in v) if type(v) in (tuple, list) else v
    if isinstance(v, dict):
        return {k: _freeze(x) for k, x in v.items()}
    return v


def _hand_out(v: Any) -> Any:
    """Return a memoized result for one caller: pandas objects as (copy-on-write) shallow copies and new
    containers around them, so no caller can change what another one reads."""
    if isinstance(v, pd.Series | pd.DataFrame):
        return v.copy(deep=False)
    if type(v) in (tuple, list):
        return type(v)(_hand_out(x) for x in v)
    if isinstance(v, dict):
        return {k: _hand_out(x) for k, x in v.items()}
    return v


def _nbytes(v: Any) -> int:
    """Return the bytes a memoized result holds (its arrays; containers summed)."""
    if isinstance(v, np.ndarray):
        return v.nbytes
    if isinstance(v, pd.Series | pd.DataFrame):
        return int(np.sum(v.memory_usage(index=False, deep=False)))
    if isinstance(v, tuple | list):
        return sum(_nbytes(x) for x in v)
    if isinstance(v, dict):
        return sum(_nbytes(x) for x in v.values())
    return 0


def _index_digest(index: pd.Index) -> tuple[str, str, str]:
    """Return (dtype, name, content digest) of an index: equal values on different indexes differ."""
    h = pd.util.hash_pandas_object(index, index=False).to_numpy()
    return (str(index.dtype), repr(index.name), hashlib.blake2b(h.view(np.uint8), digest_size=16).hexdigest())


def _buffer(s: pd.Series) -> tuple[int, tuple[int, ...], str] | None:
    """Return where a Series' values live (address, shape, dtype), or None when not a plain array."""
    a = s.to_numpy() if isinstance(s, pd.Series) else None
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
        return None
    return (a.__array_interface__["data"][0], a.shape, a.dtype.str)


def _memo_of(prices: Prices) -> _Memo:
    memo = prices.__dict__.get("_indicator_memo")
    if memo is None:
        memo = prices.__dict__.setdefault("_indicator_memo", _Memo(prices))
    return memo


def _numeric_row(value: Any, head: str, bars: pd.DataFrame, expected: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (the output as given, as float64) after the shape, length, index, dtype and NaN checks."""
    n = len(bars)
    if isinstance(value, pd.DataFrame) or np.ndim(value) != 1:
        raise StrategyError(f"{head} has shape {np.shape(value)}: expected one value per bar ({n},)")
    if len(value) != n:
        raise StrategyError(f"{head} has length {len(value)}: expected {n} (one value per bar)")
    if isinstance(value, pd.Series):
        if not value.index.equals(bars.index):
            raise StrategyError(f"{head} has an index that differs from the bars' index: expected a Series on "
                                "bars.index (or a plain array)")
        dtype: Any = value.dtype  # an extension dtype's kind too: datetime64[ns, UTC] is "M", str is "O"
        arr = value.to_numpy()
    else:
        arr = np.asarray(value)
        dtype = arr.dtype
    if dtype.kind not in "biufO":
        raise StrategyError(f"{head} has dtype {dtype}: expected {expected}")
    try:
        if dtype.kind == "O" and any(isinstance(x, str | bytes) for x in arr):
            raise TypeError  # "1" is text, not a signal: never parse it
        f = (value.to_numpy(dtype=np.float64, na_value=np.nan) if isinstance(value, pd.Series)
             else np.asarray(arr, dtype=np.float64))
    except (TypeError, ValueError):
        raise StrategyError(f"{head} has dtype {dtype} with non-numeric values: expected {expected}") from None
    nan = np.isnan(f)
    if nan.any():
        t = int(np.argmax(nan))
        raise StrategyError(f"{head} is NaN at bar {t} ({bars.index[t]}): expected {expected} (fill NaN, e.g. "
                            ".fillna(0))")
    return arr, f


def _first_bad(arr: np.ndarray, bad: np.ndarray, head: str, bars: pd.DataFrame, expected: str) -> None:
    if bad.any():
        t = int(np.argmax(bad))
        v = arr[t].item() if isinstance(arr[t], np.generic) else arr[t]
        raise StrategyError(f"{head} is {v!r} at bar {t} ({bars.index[t]}) with dtype {arr.dtype}: expected {expected}")


def _signal_row(value: Any, what: str, bars: pd.DataFrame, where: str) -> np.ndarray:
    """Return one signal output as a float64 0.0/1.0 row; raise naming the strategy, output and value."""
    head = f"{where}: signals() output '{what}'"
    arr, f = _numeric_row(value, head, bars, "bool (or numbers 0/1)")
    _first_bad(arr, (f != 0.0) & (f != 1.0), head, bars, "bool (or numbers 0/1)")
    return np.ascontiguousarray(f)


def _position_row(value: Any, bars: pd.DataFrame, where: str, direction: str) -> np.ndarray:
    """Return a target position output as a float64 row of the values ``direction`` allows; raise
    naming the strategy, output and value (see :attr:`PandasStrategy.direction`)."""
    head = f"{where}: position() output 'position'"
    lo, hi = _POSITION_VALUES[direction]
    expected = f"numbers in {{{lo:g}, {hi:g}}} for direction={direction!r}"
    arr, f = _numeric_row(value, head, bars, expected)
    if direction == "both":  # no flat state in the engine's "both": 0 only means "no signal yet"
        started = np.maximum.accumulate(f != 0.0)
        _first_bad(arr, (f != 0.0) & (f != lo) & (f != hi), head, bars, expected + " (0 only before the first)")
        _first_bad(arr, started & (f == 0.0), head, bars,
                   expected + ": direction='both' has no flat state once in the market (0 only before the first "
                   "-1/1); declare direction='long' or 'short' for a strategy that goes flat")
    else:
        _first_bad(arr, (f != lo) & (f != hi), head, bars, expected)
    return np.ascontiguousarray(f)


def _frame(prices: Prices) -> pd.DataFrame:
    """Return the bars ``prepare`` received as a DataFrame (indexed by open time when known)."""
    if prices.time is not None:
        return prices.frame()
    return pd.DataFrame({"open": prices.open, "high": prices.high, "low": prices.low, "close": prices.close,
                         "volume": prices.volume})


def _kernel() -> Any:
    from peaktrade.strategies.nb import precomputed_signal_nb

    return precomputed_signal_nb


def as_strategy(obj: Any) -> Strategy | None:
    """Return ``obj`` as a :class:`Strategy` when it is one, a :class:`PandasStrategy` instance or a
    concrete subclass; else None."""
    if isinstance(obj, Strategy):
        return obj
    if isinstance(obj, PandasStrategy):
        return obj.to_strategy()
    if isinstance(obj, type) and issubclass(obj, PandasStrategy) and obj.is_concrete():
        return obj().to_strategy()
    return None


__all__ = ["PandasStrategy", "as_strategy", "parse_constraint"]
