"""Ledger: cash, positions, average entry, realized/unrealized PnL, fees, and round-trip trades.

Fills are applied with the same arithmetic as the backtest kernel (buy: cash −= notional + fee;
sell: cash += notional − fee), so a paper replay and a backtest agree to the last digits and the
books do not drift: ``equity == initial cash + Σ trade pnl`` at every step (tested over long runs).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import pandas as pd

from peaktrade.errors import PeakTradeError
from peaktrade.orders.model import OrderFill, check_notional


class LedgerError(PeakTradeError, ValueError):
    """A fill cannot be booked (the message names what was wrong); nothing was booked."""


@dataclass
class Position:
    """An open position: signed quantity, average entry price, fees paid to open it."""

    symbol: str
    quantity: float = 0.0
    avg_price: float = 0.0
    entry_fees: float = 0.0  # entry fees of the quantity still open (not yet realized)
    entry_fees_total: float = 0.0  # all entry fees of the round trip (for its trade record)
    entry_time: pd.Timestamp | None = None
    entry_tag: str = ""
    entry_order_id: str = ""
    exit_quantity: float = 0.0  # closed so far (partial exits)
    exit_notional: float = 0.0
    exit_fees: float = 0.0
    realized: float = 0.0  # gross realized PnL of the partial exits so far


@dataclass(frozen=True)
class Trade:
    """A round trip: from flat to flat (or to a flip)."""

    symbol: str
    direction: int  # +1 long, -1 short
    entry_time: pd.Timestamp
    entry_price: float
    entry_fees: float
    exit_time: pd.Timestamp
    exit_price: float
    exit_fees: float
    size: float
    pnl: float
    ret: float
    exit_reason: str
    entry_order_id: str = ""
    exit_order_id: str = ""


@dataclass
class Ledger:
    """Books of one account in one quote currency."""

    cash: float
    positions: dict[str, Position] = field(default_factory=dict)
    fees_paid: float = 0.0
    realized_pnl: float = 0.0
    trades: list[Trade] = field(default_factory=list)
    initial_cash: float = field(init=False)

    def __post_init__(self) -> None:
        self.initial_cash = self.cash

    def position(self, symbol: str) -> float:
        """Return the signed quantity held in ``symbol``."""
        p = self.positions.get(symbol)
        return p.quantity if p else 0.0

    def equity(self, marks: dict[str, float]) -> float:
        """Return cash plus positions marked at ``marks`` (symbol → price)."""
        return self.cash + sum(p.quantity * marks[s] for s, p in self.positions.items() if p.quantity)

    def unrealized_pnl(self, marks: dict[str, float]) -> float:
        """Return the PnL of the open positions at ``marks``, net of their (unrealized) entry fees.

        ``equity(marks) == initial_cash + realized_pnl + unrealized_pnl(marks)`` at all times.
        """
        return sum((marks[s] - p.avg_price) * p.quantity - p.entry_fees
                   for s, p in self.positions.items() if p.quantity)

    def exposure(self, marks: dict[str, float]) -> float:
        """Return the gross notional of the open positions at ``marks``."""
        return sum(abs(p.quantity) * marks[s] for s, p in self.positions.items() if p.quantity)

    def apply(self, fill: OrderFill) -> None:
        """Book one fill: cash, fees, position, and a trade record when a round trip completes.

        A fill with a non-finite or absurd quantity, price or fee raises :class:`LedgerError` before
        anything is booked, so the books never hold NaN or infinity.
        """
        q = fill.quantity
        for name, v in (("quantity", q), ("price", fill.price), ("fee", fill.fee)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or \
                    (name != "fee" and v <= 0):  # a fee may be negative (a maker rebate), never NaN
                raise LedgerError(f"fill {fill.client_order_id}: {name} {v!r} cannot be booked: expected a finite "
                                  f"number{'' if name == 'fee' else ' > 0'} (nothing was booked)")
        absurd = check_notional(q, fill.price, what="fill") or check_notional(1.0, fill.fee, what="fill fee")
        if absurd is not None:
            raise LedgerError(f"fill {fill.client_order_id}: {absurd} (nothing was booked)")
        if fill.side == "buy":
            self.cash -= q * fill.price + fill.fee
        else:
            self.cash += q * fill.price - fill.fee
        self.fees_paid += fill.fee
        pos = self.positions.setdefault(fill.symbol, Position(fill.symbol))
        signed = q if fill.side == "buy" else -q
        if pos.quantity == 0.0 or (pos.quantity > 0) == (signed > 0):
            self._open(pos, signed, fill, fill.fee)
            return
        closing = min(abs(signed), abs(pos.quantity))
        share = closing / q
        self._close(pos, closing, fill, fill.fee * share)
        rest = abs(signed) - closing
        if rest > 0:  # the fill flips the position
            self._open(pos, math.copysign(rest, signed), fill, fill.fee * (1 - share))

    def write_off(self) -> float:
        """Book a ruin after the liquidating fill: cash <= 0 is set to exactly 0 and the shortfall
        (the loss beyond the account) is written off against the last trade's pnl, which becomes a
        ``"ruin"`` exit; ``equity == initial cash + Σ trade pnl`` still holds. Returns the shortfall
        (as the backtest kernel's ``close_nb`` books it)."""
        shortfall = -self.cash
        self.cash = 0.0
        self.realized_pnl += shortfall
        if self.trades:
            t = self.trades[-1]
            pnl = t.pnl + shortfall
            self.trades[-1] = dataclasses.replace(t, pnl=pnl, ret=pnl / (t.size * t.entry_price + t.entry_fees),
                                                  exit_reason="ruin")
        return shortfall

    def _open(self, pos: Position, signed: float, fill: OrderFill, fee: float) -> None:
        if pos.quantity == 0.0:
            pos.entry_time, pos.entry_tag, pos.entry_order_id = fill.timestamp, fill.tag, fill.client_order_id
            pos.avg_price, pos.entry_fees, pos.entry_fees_total = fill.price, 0.0, 0.0
            pos.exit_quantity = pos.exit_notional = pos.exit_fees = pos.realized = 0.0
        else:
            total = abs(pos.quantity) + abs(signed)
            pos.avg_price = (pos.avg_price * abs(pos.quantity) + fill.price * abs(signed)) / total
        pos.quantity += signed
        pos.entry_fees += fee
        pos.entry_fees_total += fee

    def _close(self, pos: Position, qty: float, fill: OrderFill, fee: float) -> None:
        direction = 1 if pos.quantity > 0 else -1
        gross = (fill.price - pos.avg_price) * qty * direction
        entry_share = pos.entry_fees * qty / abs(pos.quantity)  # entry fees of the closed part
        pos.entry_fees -= entry_share
        self.realized_pnl += gross - fee - entry_share
        pos.realized += gross
        pos.exit_quantity += qty
        pos.exit_notional += qty * fill.price
        pos.exit_fees += fee
        pos.quantity -= qty * direction
        if abs(pos.quantity) <= 1e-12 * max(1.0, pos.exit_quantity):
            pos.quantity = 0.0
            size = pos.exit_quantity
            pos.entry_fees = 0.0
            pnl = pos.realized - pos.entry_fees_total - pos.exit_fees
            self.trades.append(Trade(
                pos.symbol, direction, pos.entry_time, pos.avg_price, pos.entry_fees_total, fill.timestamp,
                pos.exit_notional / size, pos.exit_fees, size, pnl,
                pnl / (size * pos.avg_price + pos.entry_fees_total), fill.tag or "signal",
                pos.entry_order_id, fill.client_order_id,
            ))

    def trades_frame(self) -> pd.DataFrame:
        """Return the closed trades as a DataFrame (columns named as in a BacktestResult's trades)."""
        cols = list(Trade.__dataclass_fields__)
        return pd.DataFrame([t.__dict__ for t in self.trades], columns=cols)
