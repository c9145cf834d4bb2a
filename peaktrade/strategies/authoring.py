"""The pandas authoring level: a strategy written as a class with a vectorized ``signals`` method.

A user subclasses :class:`PandasStrategy`, declares ``name``, ``summary``, typed ``params`` (each
with a default and a search range or choices), ``constraints``, ``stop_defaults`` and ``warmup``, and
writes ``signals(self, bars, **params) -> (entries, exits)``. :meth:`PandasStrategy.to_strategy`
turns it into the engine's :class:`~peaktrade.strategies.base.Strategy`: ``prepare`` calls
``signals`` once per unique parameter combination and stores the two outputs as indicator rows
(0.0/1.0), and one compiled kernel (:func:`~peaktrade.strategies.nb.precomputed_signal_nb`) copies
them out, so the same simulators, sweeps, stats, reports, paper replay and lookahead check run it.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping, Sequence
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
        Bars of history the signals need (used to size live windows).

    ``signals(self, bars, **params)`` returns ``(entries, exits)``: bool (or 0/1) Series or arrays
    with one value per bar of ``bars`` (a DataFrame open, high, low, close, volume indexed by bar
    open time). The value at bar ``t`` may only depend on bars ``<= t``.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    constraints: ClassVar[tuple[str | Constraint | Callable[[Mapping[str, Any]], bool], ...]] = ()
    stop_defaults: ClassVar[Mapping[str, float]] = {}
    warmup: ClassVar[int] = 0

    def signals(self, bars: pd.DataFrame, **params: Any) -> tuple[Any, Any]:
        """Return ``(entries, exits)`` for every bar of ``bars``; override this."""
        raise NotImplementedError(f"{type(self).__name__}.signals(bars, **params) is not implemented")

    @classmethod
    def is_concrete(cls) -> bool:
        """Return True when the class names itself and overrides :meth:`signals` (so it can be registered)."""
        return bool(cls.name) and cls.signals is not PandasStrategy.signals

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
        def prepare(prices: Prices, combos: Sequence[Mapping[str, Any]]) -> Prepared:
            return self._prepare(prices, combos)

        # the author's module, not this one: what the source hash of the strategy (provenance) must cover
        prepare.__module__ = type(self).__module__
        prepare.__qualname__ = f"{type(self).__qualname__}.prepare"
        strat = Strategy(name=self.name, summary=self.summary or (type(self).__doc__ or "").strip().split("\n")[0],
                         params=params, prepare=prepare, signal_nb=_kernel(),
                         constraints=tuple(constraints), stop_defaults=dict(self.stop_defaults),
                         warmup=self.warmup)
        strat.resolve({})  # the defaults must satisfy the constraints
        return strat

    def _prepare(self, prices: Prices, combos: Sequence[Mapping[str, Any]]) -> Prepared:
        bars = _frame(prices)
        names = [p.name for p in self.params]
        tab = IndicatorTable(prices)
        rows: dict[tuple[Any, ...], list[int]] = {}
        cols = []
        for p in combos:
            key = tuple(p[k] for k in names)
            if key not in rows:  # each unique parameter combination once (a swept stop repeats them)
                shown = ", ".join(f"{k}={p[k]!r}" for k in names)
                out = self.signals(bars.copy(), **{k: p[k] for k in names})
                e, x = self._check_output(out, bars, shown)
                rows[key] = [tab.row(("entries", key), lambda e=e: e, name=f"entries({shown})"),
                             tab.row(("exits", key), lambda x=x: x, name=f"exits({shown})")]
            cols.append(rows[key])
        return tab.build(cols, [[] for _ in combos])

    def _check_output(self, out: Any, bars: pd.DataFrame, shown: str) -> tuple[np.ndarray, np.ndarray]:
        where = f"strategy '{self.name}'" + (f" ({shown})" if shown else "")
        if not (isinstance(out, tuple | list) and len(out) == 2):
            raise StrategyError(f"{where}: signals() returned {type(out).__name__}: expected a tuple (entries, exits)")
        return (_signal_row(out[0], "entries", bars, where), _signal_row(out[1], "exits", bars, where))


def _signal_row(value: Any, what: str, bars: pd.DataFrame, where: str) -> np.ndarray:
    """Return one signal output as a float64 0.0/1.0 row; raise naming the strategy, output and value."""
    n = len(bars)
    head = f"{where}: signals() output '{what}'"
    if isinstance(value, pd.DataFrame) or np.ndim(value) != 1:
        raise StrategyError(f"{head} has shape {np.shape(value)}: expected one value per bar ({n},)")
    if len(value) != n:
        raise StrategyError(f"{head} has length {len(value)}: expected {n} (one value per bar)")
    if isinstance(value, pd.Series):
        if not value.index.equals(bars.index):
            raise StrategyError(f"{head} has an index that differs from the bars' index: expected a Series on "
                                "bars.index (or a plain array)")
        kind = value.dtype.kind if isinstance(value.dtype, np.dtype) else "O"
        arr = value.to_numpy(dtype=np.float64, na_value=np.nan) if kind in "biufO" else value.to_numpy()
    else:
        arr = np.asarray(value)
        kind = arr.dtype.kind
    if kind not in "biufO":
        raise StrategyError(f"{head} has dtype {arr.dtype}: expected bool (or numbers 0/1)")
    try:
        f = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise StrategyError(f"{head} has dtype {arr.dtype} with non-numeric values: expected bool "
                            "(or numbers 0/1)") from None
    nan = np.isnan(f)
    if nan.any():
        t = int(np.argmax(nan))
        raise StrategyError(f"{head} is NaN at bar {t} ({bars.index[t]}): expected bool (fill NaN before "
                            "comparing, e.g. .fillna(False))")
    bad = (f != 0.0) & (f != 1.0)
    if bad.any():
        t = int(np.argmax(bad))
        v = arr[t].item() if isinstance(arr[t], np.generic) else arr[t]
        raise StrategyError(f"{head} is {v!r} at bar {t} ({bars.index[t]}) with dtype {arr.dtype}: "
                            "expected bool (or numbers 0/1)")
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
