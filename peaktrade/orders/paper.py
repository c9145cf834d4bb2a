"""Paper executor: simulated fills with exactly the backtest's cost model.

Market orders fill at the context's current price moved by slippage (buys up, sells down), with
fees ``fees × notional + fixed_fees``: the backtest's :class:`~peaktrade.backtest.costs.Costs`. Limit orders rest and
fill when a bar trades through their price (at the limit, or at the open when the bar opens
beyond it), optionally capped per bar at a share of the bar's volume (partial fills). Fill times
are the market time of the context, never the wall clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from peaktrade.backtest.costs import Costs
from peaktrade.errors import BacktestError, bad_value
from peaktrade.orders.model import (
    OrderError,
    OrderExecutionResult,
    OrderFill,
    OrderRequest,
    OrderStatus,
    check_notional,
)


def executable_price(request: OrderRequest, market: float, costs: Costs) -> float:
    """Return the most one unit of ``request`` can cost or be worth when it fills against ``market``
    (see :meth:`Costs.executable_price <peaktrade.backtest.costs.Costs.executable_price>`)."""
    limit = request.limit_price if request.type == "limit" else None
    return costs.executable_price(market, quantity=request.quantity, limit_price=limit)


@dataclass
class PaperMarketContext:
    """The market as the paper executor sees it: the current price and the current bar.

    ``price`` is where a market order would trade now (the bar's open at the open, a stop level
    when a stop is hit, the close at the close); ``time`` is the market time of that moment.
    """

    symbol: str
    time: pd.Timestamp | None = None
    price: float = float("nan")
    bar_open: float = float("nan")
    bar_high: float = float("nan")
    bar_low: float = float("nan")
    bar_close: float = float("nan")
    bar_volume: float = float("nan")


@dataclass
class PaperExecutor:
    """Simulated order execution (implements :class:`~peaktrade.orders.OrderExecutor`).

    Parameters
    ----------
    context
        The shared market context, updated by the caller as market time advances.
    fees, fixed_fees, slippage
        The backtest's cost model (:class:`~peaktrade.backtest.costs.Costs`, kept as ``costs``).
    volume_share
        When set, a limit order fills at most this share of a bar's volume per bar (partial fills).
    """

    context: PaperMarketContext
    fees: float = 0.0
    fixed_fees: float = 0.0
    slippage: float = 0.0
    volume_share: float | None = None
    #: the cost model built from ``fees``, ``fixed_fees`` and ``slippage`` (validated there)
    costs: Costs = field(init=False, repr=False)
    _resting: dict[str, OrderRequest] = field(default_factory=dict)
    _filled: dict[str, float] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        try:
            self.costs = Costs(fees=self.fees, fixed_fees=self.fixed_fees, slippage=self.slippage)
        except BacktestError as e:
            raise OrderError(str(e)) from None
        if self.volume_share is not None and not 0 < self.volume_share <= 1:
            raise OrderError(bad_value("volume_share", self.volume_share, "a fraction in (0, 1]"))

    # -- cost model ------------------------------------------------------------------------
    def fill_price(self, side: str, price: float) -> float:
        """Return the fill price of a market order at ``price`` (slippage against the trader)."""
        return self.costs.fill_price(side, price)

    def fee(self, notional: float) -> float:
        return self.costs.fee(notional)

    def market_price(self, symbol: str, side: str) -> float:
        """Return the price a market order trades against now: the context's price (one price, no spread)."""
        return float(self.context.price) if symbol == self.context.symbol else math.nan

    def executable_price(self, request: OrderRequest) -> float:
        """Return the most one unit of ``request`` can cost or be worth (see :func:`executable_price`)."""
        return executable_price(request, self.market_price(request.symbol, request.side), self.costs)

    def _fill(self, req: OrderRequest, qty: float, price: float) -> OrderFill:
        return OrderFill(req.client_order_id, req.symbol, req.side, qty, price, self.fee(qty * price),
                         self.context.time, req.tag)

    # -- OrderExecutor ---------------------------------------------------------------------
    def submit(self, request: OrderRequest) -> OrderExecutionResult:
        """Fill a market order now; rest a limit order (filling what already crosses)."""
        if request.client_order_id in self._seen:
            return OrderExecutionResult(request, OrderStatus.REJECTED, reason="duplicate client_order_id")
        if request.symbol != self.context.symbol:
            return OrderExecutionResult(request, OrderStatus.REJECTED,
                                        reason=f"unknown symbol {request.symbol!r} (paper market is {self.context.symbol})")
        price = self.context.price
        if not price > 0:
            return OrderExecutionResult(request, OrderStatus.REJECTED, reason="no market price yet")
        absurd = check_notional(request.quantity, self.executable_price(request))
        if absurd is not None:  # rejected before anything is booked: the books stay finite
            return OrderExecutionResult(request, OrderStatus.REJECTED, reason=absurd)
        self._seen.add(request.client_order_id)
        if request.type == "market":
            fill = self._fill(request, request.quantity, self.fill_price(request.side, price))
            return OrderExecutionResult(request, OrderStatus.FILLED, (fill,))
        crosses = price <= request.limit_price if request.side == "buy" else price >= request.limit_price
        if crosses:  # marketable limit: fills now at the better of price and limit
            px = min(price, request.limit_price) if request.side == "buy" else max(price, request.limit_price)
            return OrderExecutionResult(request, OrderStatus.FILLED, (self._fill(request, request.quantity, px),))
        if request.time_in_force in ("IOC", "FOK"):
            return OrderExecutionResult(request, OrderStatus.CANCELLED, reason=f"{request.time_in_force}: not marketable")
        self._resting[request.client_order_id] = request
        self._filled[request.client_order_id] = 0.0
        return OrderExecutionResult(request, OrderStatus.ACCEPTED)

    def cancel(self, client_order_id: str) -> OrderExecutionResult:
        req = self._resting.pop(client_order_id, None)
        if req is None:
            raise OrderError(bad_value("client_order_id", client_order_id, "the id of a resting order"))
        self._filled.pop(client_order_id, None)
        return OrderExecutionResult(req, OrderStatus.CANCELLED, reason="cancelled")

    def open_orders(self) -> list[OrderRequest]:
        return list(self._resting.values())

    # -- market time -----------------------------------------------------------------------
    def on_bar(self) -> list[OrderExecutionResult]:
        """Match resting limit orders against the context's current bar; return the fills made."""
        out = []
        c = self.context
        for oid, req in list(self._resting.items()):
            lim = req.limit_price
            if req.side == "buy":
                if not c.bar_low <= lim:
                    continue
                px = min(c.bar_open, lim)
            else:
                if not c.bar_high >= lim:
                    continue
                px = max(c.bar_open, lim)
            remaining = req.quantity - self._filled[oid]
            qty = remaining
            if self.volume_share is not None:
                qty = min(remaining, self.volume_share * c.bar_volume)
                if qty <= 0:
                    continue
            self._filled[oid] += qty
            done = self._filled[oid] >= req.quantity * (1 - 1e-12)
            if done:
                del self._resting[oid]
                del self._filled[oid]
            fill = self._fill(req, qty, px)
            out.append(OrderExecutionResult(req, OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED,
                                            (fill,)))
        return out


__all__ = ["PaperExecutor", "PaperMarketContext", "executable_price"]
