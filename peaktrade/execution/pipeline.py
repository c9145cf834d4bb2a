"""ExecutionPipeline: signal → target position → orders → SafetyGuard → RiskLimits → executor → fills
→ ledger → run log, one bar at a time, with hooks for logging and alerts.

The bar semantics are the backtest kernel's (see :mod:`peaktrade.backtest.nb` and
docs/backtest.md): under ``next_open`` a signal on bar t's close is executed at bar t+1's open;
stops are watched intrabar from the bar's OHLC with gap-through fills at the open and the same
stop priority; sizing and costs are the same. A paper replay therefore reproduces the backtest
trade for trade (tested on real data), while every order passes the same safety layer that guards
testnet and live. Ruin too is the kernel's: the position is liquidated where equity reaches zero
(intrabar, or at the open on a gap), the shortfall is written off (``Ledger.write_off``) and the
pipeline sends no further order (``ruined``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from peaktrade.backtest.costs import Costs
from peaktrade.execution.ledger import Ledger
from peaktrade.orders.model import (
    OrderExecutionResult,
    OrderExecutor,
    OrderFill,
    OrderRequest,
    OrderStatus,
    check_notional,
)
from peaktrade.orders.paper import PaperMarketContext, executable_price


@dataclass(frozen=True)
class Decision:
    """The verdict of one check on one order."""

    allowed: bool
    gate: str
    reason: str = ""


class OrderCheck(Protocol):
    """A pre-trade check (SafetyGuard, RiskLimits). A check that cannot decide must deny.

    ``price`` is the order's *executable* price (:meth:`ExecutionPipeline.executable_price`): the most
    one unit can cost or be worth when it fills, slippage bound and fees included, so that
    ``quantity × price`` bounds the fill's notional. NaN when it is unknown.
    """

    def check(self, request: OrderRequest, *, ledger: Ledger, price: float, now: pd.Timestamp) -> Decision:
        ...


@runtime_checkable
class FillObserver(Protocol):
    """A check that also follows the fills it let through (RiskLimits: turnover, realized P&L, budgets).

    The pipeline calls ``on_fill`` on every check that has it, after the fill is booked in ``ledger``.
    """

    def on_fill(self, fill: OrderFill, *, ledger: Ledger) -> None:
        ...


@runtime_checkable
class EquityObserver(Protocol):
    """A check that also follows the equity at each bar's close (RiskLimits: daily loss, drawdown)."""

    def on_equity(self, time: pd.Timestamp, equity: float, *, ledger: Ledger) -> None:
        ...


@runtime_checkable
class BarDrivenExecutor(Protocol):
    """An executor with resting orders the bar drives (paper limit/stop orders, a venue's fills polled
    once a bar): the pipeline calls ``on_bar`` at each bar's open and books what it returns."""

    def on_bar(self) -> list[OrderExecutionResult]:
        ...


@runtime_checkable
class QuotingExecutor(Protocol):
    """An executor that quotes: what an order trades against now and the most one unit can cost.

    Without it the pipeline sizes at the bar's price and checks at its own cost model
    (:meth:`ExecutionPipeline.executable_price`).
    """

    def market_price(self, symbol: str, side: str) -> float:
        """Return the price an order of ``side`` trades against now (ask for a buy, bid for a sell)."""
        ...

    def executable_price(self, request: OrderRequest) -> float:
        """Return the most one unit of ``request`` can cost or be worth when it fills (slippage bound and
        fees per unit included)."""
        ...


@functools.cache
def _implements(cls: type, protocol: type) -> bool:
    # per class, once: ``isinstance`` against a runtime protocol costs tens of µs a call on Python 3.11,
    # which a replay of 100k bars would pay several times a bar
    return issubclass(cls, protocol)


@dataclass
class Hooks:
    """Callbacks: ``before_order(request)``, ``after_fill(fill)``, ``on_denial(request, decision)``,
    ``on_bar(event dict)``. Exceptions in hooks are not swallowed: a broken logger must be noticed."""

    before_order: list[Callable[[OrderRequest], None]] = field(default_factory=list)
    after_fill: list[Callable[[OrderFill], None]] = field(default_factory=list)
    on_denial: list[Callable[[OrderRequest, Decision], None]] = field(default_factory=list)
    on_bar: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)


@dataclass
class SizingModel:
    """How much an entry buys, exactly as the backtest sizes it (the kernels' ``entry_order_nb``)."""

    size: float = 1.0
    size_type: str = "percent"  # "percent" | "value" | "vol_target" (fraction given per bar)
    fees: float = 0.0
    fixed_fees: float = 0.0
    slippage: float = 0.0

    @property
    def costs(self) -> Costs:
        """The cost model this pipeline sizes and checks orders with."""
        return Costs(fees=self.fees, fixed_fees=self.fixed_fees, slippage=self.slippage)

    def quantity(self, cash: float, price: float, side: str, frac: float = 1.0) -> float:
        """Return the units an entry at market ``price`` buys (or sells short), 0 if none."""
        return self.costs.entry_quantity(cash, price, side, size=self.size, size_type=self.size_type, frac=frac)


@dataclass
class StopRules:
    """Protective stops, as fractions of the entry fill price (None/NaN/0 = off)."""

    sl_stop: float | None = None
    tp_stop: float | None = None
    sl_trail: float | None = None
    stop_priority: str = "sl"

    @staticmethod
    def _on(x: float | None) -> bool:
        return x is not None and not math.isnan(x) and x > 0

    @property
    def active(self) -> bool:
        return self._on(self.sl_stop) or self._on(self.tp_stop) or self._on(self.sl_trail)


class ExecutionPipeline:
    """Turn a strategy's per-bar signals into guarded orders and booked fills for one symbol.

    Parameters
    ----------
    symbol
        The market traded.
    executor
        Where orders go (paper, shadow, testnet, live adapters).
    ledger
        The books the fills are applied to.
    context
        The market context shared with a paper executor (price/time/bar); other executors ignore it.
    checks
        Pre-trade checks, in order (SafetyGuard first, then RiskLimits). Every order passes all of them.
    execution, direction
        As in :func:`peaktrade.backtest.from_signals`.
    sizing, stops
        Sizing and stop rules (the backtest's).
    hooks
        Callbacks for logging and alerts.
    """

    def __init__(self, *, symbol: str, executor: OrderExecutor, ledger: Ledger, context: PaperMarketContext,
                 checks: list[OrderCheck] | tuple[OrderCheck, ...] = (), execution: str = "next_open",
                 direction: str = "long", sizing: SizingModel | None = None, stops: StopRules | None = None,
                 hooks: Hooks | None = None) -> None:
        self.symbol = symbol
        self.executor = executor
        self.ledger = ledger
        self.context = context
        self.checks = list(checks)
        self.execution = execution
        self.direction = direction
        self.sizing = sizing or SizingModel()
        self.stops = stops or StopRules()
        self.hooks = hooks or Hooks()
        self.pending: int | None = None
        self._pending_frac = 1.0
        self._extreme = math.nan
        self._stop_from: pd.Timestamp | None = None
        self.denials: list[tuple[OrderRequest, Decision]] = []
        self.bar_index = -1
        self.ruined = False  # equity reached zero: no further orders

    # -- orders ----------------------------------------------------------------------------
    def market_price(self, side: str, fallback: float) -> float:
        """Return the price an order of ``side`` trades against now, as the executor sees it (ask/bid).

        Executors without a quote (or failing to give one) fall back to ``fallback``, the bar's price.
        """
        if not _implements(type(self.executor), QuotingExecutor):
            return fallback
        try:
            m = float(self.executor.market_price(self.symbol, side))
        except Exception:  # noqa: BLE001 — sizing falls back; the executable price decides (fail closed)
            return fallback
        return m if m > 0 and math.isfinite(m) else fallback

    def executable_price(self, request: OrderRequest, price: float) -> float:
        """Return the price ``request`` is checked at: the most one unit can cost or be worth when it fills.

        The executor's own quote when it has one (``executable_price``: its ask/bid plus its slippage
        bound, fees included, e.g. today's venue price for a catch-up order of a bar hours old); else
        ``price`` with this pipeline's cost model. NaN when the executor cannot quote.
        """
        if not _implements(type(self.executor), QuotingExecutor):
            return self._modelled_price(request, price)
        try:
            return float(self.executor.executable_price(request))
        except Exception:  # noqa: BLE001 — unknown: denied below unless it is an exit
            return math.nan

    def _modelled_price(self, request: OrderRequest, price: float) -> float:
        return executable_price(request, price, self.sizing.costs)  # this pipeline's cost model at ``price``

    def _deny(self, request: OrderRequest, decision: Decision) -> None:
        self.denials.append((request, decision))
        for h in self.hooks.on_denial:
            h(request, decision)

    def submit(self, request: OrderRequest, *, price: float, now: pd.Timestamp) -> OrderExecutionResult | None:
        """Run ``request`` through every check at its executable price, then the executor; book its fills.

        Returns None if denied. Every check sees the executable price (:meth:`executable_price`), never
        the bar's price: limits and budgets hold for the price the order actually fills at.
        """
        px = self.executable_price(request, price)
        if not (px > 0 and math.isfinite(px)):
            if not request.reduce_only:
                self._deny(request, Decision(False, "executable_price",
                                             f"executable_price: no executable price for {request.side} "
                                             f"{request.symbol} ({px!r}): the order cannot be checked (fail closed)"))
                return None
            # an exit must not be trapped by a missing quote: check it at the bar's price (the guard
            # still denies a reduce-only order that would not reduce)
            px = self._modelled_price(request, price)
        absurd = check_notional(request.quantity, px)
        if absurd is not None:
            self._deny(request, Decision(False, "order_size", absurd))
            return None
        for check in self.checks:
            try:
                decision = check.check(request, ledger=self.ledger, price=px, now=now)
            except Exception as e:  # noqa: BLE001 — a check that cannot decide denies (fail closed)
                decision = Decision(False, type(check).__name__, f"check failed: {type(e).__name__}: {e}")
            if not decision.allowed:
                self._deny(request, decision)
                return None
        for h in self.hooks.before_order:
            h(request)
        result = self.executor.submit(request)
        self._book(result)
        return result

    def book(self, result: OrderExecutionResult) -> None:
        """Book the fills of a result the executor reported outside :meth:`submit` and :meth:`on_bar`
        (e.g. orders settled at the end of a run)."""
        self._book(result)

    def _book(self, result: OrderExecutionResult) -> None:
        for fill in result.fills:
            self.ledger.apply(fill)
            for check in self.checks:
                if _implements(type(check), FillObserver):
                    check.on_fill(fill, ledger=self.ledger)
            for h in self.hooks.after_fill:
                h(fill)

    def _sign(self) -> int:
        q = self.ledger.position(self.symbol)
        return 1 if q > 0 else (-1 if q < 0 else 0)

    def _close(self, price: float, now: pd.Timestamp, tag: str) -> bool:
        qty = abs(self.ledger.position(self.symbol))
        side = "sell" if self._sign() > 0 else "buy"
        self.context.price, self.context.time = price, now
        res = self.submit(OrderRequest(self.symbol, side, qty, reduce_only=True, tag=tag), price=price, now=now)
        filled = res is not None and res.status == OrderStatus.FILLED
        if filled and self._sign() == 0 and (tag == "ruin" or self.ledger.cash <= 0.0):
            self.ledger.write_off()
            self.ruined, self.pending = True, None
        return filled and not self.ruined

    def _open(self, sign: int, price: float, now: pd.Timestamp, frac: float, stop_from: pd.Timestamp) -> None:
        side = "buy" if sign > 0 else "sell"
        self.context.price, self.context.time = price, now
        # size at the price the order trades against now (a catch-up bar's price may be hours old)
        qty = self.sizing.quantity(self.ledger.cash, self.market_price(side, price), side, frac)
        if qty <= 0:
            return
        res = self.submit(OrderRequest(self.symbol, side, qty, tag="entry"), price=price, now=now)
        if res is not None and res.fills:
            # the trail starts at the entry price the stop-loss is measured from (the ledger's), not
            # at the order's average (notional / quantity can differ from it in the last bit, which
            # turns a stop-loss/trailing tie into a different exit reason than the backtest's)
            self._extreme = self.ledger.positions[self.symbol].avg_price
            self._stop_from = stop_from

    def move_to(self, target: int, price: float, now: pd.Timestamp, *, frac: float = 1.0,
                stop_from: pd.Timestamp | None = None) -> None:
        """Move the position to direction ``target`` (+1, 0, −1) at market ``price``."""
        cur = self._sign()
        if cur == target:
            return
        if cur != 0 and not self._close(price, now, "signal" if target == 0 else "reverse"):
            return  # the exit was denied: never open against a position we could not close
        if target != 0:
            self._open(target, price, now, frac, stop_from if stop_from is not None else now)

    # -- bars ------------------------------------------------------------------------------
    def target_for(self, entry: bool, exit_: bool) -> int | None:
        """Return the direction a signal pair asks for, or None (the kernel's ``target_nb``)."""
        if entry == exit_:
            return None
        cur = self._sign()
        if self.direction == "long":
            if entry and cur == 0:
                return 1
            if exit_ and cur > 0:
                return 0
        elif self.direction == "both":
            if entry and cur <= 0:
                return 1
            if exit_ and cur >= 0:
                return -1
        else:
            if entry and cur == 0:
                return -1
            if exit_ and cur < 0:
                return 0
        return None

    def _check_stops(self, t: pd.Timestamp, o: float, h: float, lo: float) -> None:
        pos = self.ledger.positions[self.symbol]
        entry = pos.avg_price
        ruin = -self.ledger.cash / pos.quantity  # where equity reaches zero: an adverse stop always on
        s = self.stops
        sl = s.sl_stop if s._on(s.sl_stop) else 0.0
        tp = s.tp_stop if s._on(s.tp_stop) else 0.0
        tr = s.sl_trail if s._on(s.sl_trail) else 0.0
        if pos.quantity > 0:
            sl_level = entry * (1.0 - sl) if sl > 0 else -math.inf
            tr_level = self._extreme * (1.0 - tr) if tr > 0 else -math.inf
            stop_level = max(sl_level, tr_level)
            reason = "stop_loss" if sl_level >= tr_level else "trailing_stop"
            if ruin >= stop_level:
                stop_level, reason = ruin, "ruin"
            tp_level = entry * (1.0 + tp) if tp > 0 else math.inf
            gap_stop, gap_tp = o <= stop_level, o >= tp_level
            hit_stop, hit_tp = lo <= stop_level, h >= tp_level
            extreme = h
        else:
            sl_level = entry * (1.0 + sl) if sl > 0 else math.inf
            tr_level = self._extreme * (1.0 + tr) if tr > 0 else math.inf
            stop_level = min(sl_level, tr_level)
            reason = "stop_loss" if sl_level <= tr_level else "trailing_stop"
            if ruin <= stop_level:
                stop_level, reason = ruin, "ruin"
            tp_level = entry * (1.0 - tp) if tp > 0 else -math.inf
            gap_stop, gap_tp = o >= stop_level, o <= tp_level
            hit_stop, hit_tp = h >= stop_level, lo <= tp_level
            extreme = lo
        if gap_stop:
            self._close(o, t, reason)
        elif gap_tp:
            self._close(o, t, "take_profit")
        elif hit_stop and (not hit_tp or s.stop_priority == "sl"):
            self._close(stop_level, t, reason)
        elif hit_tp:
            self._close(tp_level, t, "take_profit")
        elif (extreme > self._extreme) if pos.quantity > 0 else (extreme < self._extreme):
            self._extreme = extreme

    def on_bar(self, time: pd.Timestamp, close_time: pd.Timestamp, o: float, h: float, lo: float, c: float,
               v: float, entry: bool, exit_: bool, *, frac: float = 1.0) -> float:
        """Process one completed bar (open time ``time``); return the equity at its close."""
        self.bar_index += 1
        ctx = self.context
        ctx.time, ctx.bar_open, ctx.bar_high, ctx.bar_low, ctx.bar_close, ctx.bar_volume = time, o, h, lo, c, v
        ctx.price = o
        if self.execution == "next_open" and self.pending is not None:
            target, self.pending = self.pending, None
            self.move_to(target, o, time, frac=self._pending_frac, stop_from=time)
        if _implements(type(self.executor), BarDrivenExecutor):
            for res in self.executor.on_bar():
                self._book(res)
        # the ruin level is watched like a stop even when no stop is set
        if self._sign() != 0 and self._stop_from is not None and time >= self._stop_from:
            self._check_stops(time, o, h, lo)
        target = None if self.ruined else self.target_for(entry, exit_)  # a ruined account sends no order
        if target is not None:
            if self.execution == "next_open":
                self.pending, self._pending_frac = target, frac
            else:
                self.move_to(target, c, close_time, frac=frac, stop_from=close_time)
        ctx.price, ctx.time = c, close_time
        equity = self.ledger.equity({self.symbol: c})
        for check in self.checks:
            if _implements(type(check), EquityObserver):
                check.on_equity(close_time, equity, ledger=self.ledger)
        event = {"time": time, "close": c, "entry": bool(entry), "exit": bool(exit_), "equity": equity,
                 "position": self.ledger.position(self.symbol), "cash": self.ledger.cash}
        for hook in self.hooks.on_bar:
            hook(event)
        return equity
