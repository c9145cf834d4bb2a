"""Order value types and the executor port.

Everything here is plain data: an :class:`OrderRequest` is validated on construction (errors name
the field), fills and results are immutable, and the :class:`OrderExecutor` protocol is what the
execution pipeline talks to, whether orders are simulated (paper, shadow) or sent (testnet, live).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, Protocol, runtime_checkable

import pandas as pd

from peaktrade.errors import PeakTradeError, bad_value


class OrderError(PeakTradeError, ValueError):
    """An order request is invalid (the message names the field)."""


class OrderStatus(str, Enum):
    ACCEPTED = "accepted"  # resting (limit) or in flight
    FILLED = "filled"
    PARTIALLY_FILLED = "partially_filled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
TimeInForce = Literal["GTC", "IOC", "FOK"]


#: The largest notional (quantity × price, quote currency) an order or fill may have. Beyond it float64 books
#: no longer hold cents exactly (2**53 cents ≈ 9e13); a larger size is a bug or an attack, never a trade.
MAX_NOTIONAL = 1e13


def check_notional(quantity: float, price: float, *, what: str = "order") -> str | None:
    """Return why ``quantity`` × ``price`` cannot be booked (not finite, or > :data:`MAX_NOTIONAL`), else None."""
    try:
        notional = float(quantity) * float(price)
    except (TypeError, ValueError, OverflowError):
        return f"{what} size: quantity {quantity!r} × price {price!r} is not a number"
    if not math.isfinite(notional):
        return (f"{what} size: quantity {quantity!r} × price {price!r} = {notional!r} is not a finite notional; "
                f"expected at most {MAX_NOTIONAL:,.0f}")
    if abs(notional) > MAX_NOTIONAL:
        return (f"{what} size: notional {notional:,.2f} (quantity {quantity!r} × price {price!r}) is absurd: "
                f"expected at most {MAX_NOTIONAL:,.0f}")
    return None


def new_client_order_id() -> str:
    """Return a fresh unique client order id."""
    return "pt-" + uuid.uuid4().hex[:24]


@dataclass(frozen=True)
class OrderRequest:
    """An order to place.

    Attributes
    ----------
    symbol
        Market symbol, e.g. ``"BTC/USD"``.
    side
        ``"buy"`` or ``"sell"``.
    quantity
        Base-asset units, > 0 (fractional allowed).
    type
        ``"market"`` or ``"limit"`` (a limit order needs ``limit_price``).
    limit_price
        Limit price (> 0) of a limit order; must be absent for a market order.
    time_in_force
        ``"GTC"`` (rest until filled or cancelled), ``"IOC"`` (fill what you can now, cancel the rest),
        ``"FOK"`` (fill completely now or cancel).
    reduce_only
        Only reduce an existing position, never open or flip one.
    client_order_id
        Unique id, generated when absent; venues use it to deduplicate retries.
    tag
        Free text (e.g. why the order was made: ``"signal"``, ``"stop_loss"``).
    """

    symbol: str
    side: Side
    quantity: float
    type: OrderType = "market"
    limit_price: float | None = None
    time_in_force: TimeInForce = "GTC"
    reduce_only: bool = False
    client_order_id: str = field(default_factory=new_client_order_id)
    tag: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or "/" not in self.symbol:
            raise OrderError(bad_value("symbol", self.symbol, "a market symbol like 'BTC/USD'"))
        if self.side not in ("buy", "sell"):
            raise OrderError(bad_value("side", self.side, "'buy' or 'sell'"))
        q = self.quantity
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q) or q <= 0:
            raise OrderError(bad_value("quantity", q, "a finite number > 0"))
        if self.type not in ("market", "limit"):
            raise OrderError(bad_value("type", self.type, "'market' or 'limit'"))
        if self.type == "limit":
            p = self.limit_price
            if p is None:
                raise OrderError("limit_price is missing: a limit order needs a limit_price > 0")
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or p <= 0:
                raise OrderError(bad_value("limit_price", p, "a finite number > 0"))
        elif self.limit_price is not None:
            raise OrderError(bad_value("limit_price", self.limit_price, "None for a market order"))
        if self.time_in_force not in ("GTC", "IOC", "FOK"):
            raise OrderError(bad_value("time_in_force", self.time_in_force, "'GTC', 'IOC' or 'FOK'"))
        if not isinstance(self.client_order_id, str) or not self.client_order_id:
            raise OrderError(bad_value("client_order_id", self.client_order_id, "a non-empty string"))

    @property
    def signed_quantity(self) -> float:
        return self.quantity if self.side == "buy" else -self.quantity


@dataclass(frozen=True)
class OrderFill:
    """One execution of (part of) an order, at market time."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float  # fill price, slippage included
    fee: float
    timestamp: pd.Timestamp  # market time of the fill, never wall-clock time in paper/replay
    tag: str = ""

    @property
    def notional(self) -> float:
        return self.quantity * self.price


@dataclass(frozen=True)
class OrderExecutionResult:
    """The outcome of submitting (or cancelling) an order."""

    request: OrderRequest
    status: OrderStatus
    fills: tuple[OrderFill, ...] = ()
    reason: str = ""

    @property
    def filled_quantity(self) -> float:
        return sum(f.quantity for f in self.fills)

    @property
    def average_price(self) -> float:
        q = self.filled_quantity
        return sum(f.notional for f in self.fills) / q if q else math.nan

    @property
    def fees(self) -> float:
        return sum(f.fee for f in self.fills)


@runtime_checkable
class OrderExecutor(Protocol):
    """What the execution pipeline needs from anything that executes orders."""

    def submit(self, request: OrderRequest) -> OrderExecutionResult:
        """Place ``request``; return what happened immediately (resting orders: ``ACCEPTED``)."""
        ...

    def cancel(self, client_order_id: str) -> OrderExecutionResult:
        """Cancel a resting order."""
        ...

    def open_orders(self) -> list[OrderRequest]:
        """Return the resting orders."""
        ...

    # Optional, declared as protocols in peaktrade.execution.pipeline (the pipeline uses them when present):
    #   QuotingExecutor: market_price(symbol, side), executable_price(request) (ask/bid; the most one unit
    #                    can cost or be worth when it fills, slippage bound and fees per unit included)
    #   BarDrivenExecutor: on_bar() -> the results of resting orders the bar filled
