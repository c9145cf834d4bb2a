"""ExchangeExecutor: the pipeline's ``OrderExecutor`` backed by an exchange client (the ``ExchangeClient`` port).

- Validate-only client (e.g. ``kraken-validate``): each order goes to the venue with ``validate=true``;
  when the venue accepts it, the fill is simulated locally at the current price (the paper cost
  model), and the venue's description of the order is kept in the result's ``reason``.
- Placing client (e.g. ``kraken-sim``): the order is placed; its fills are read back from the venue
  (``fetch_order``) and booked at the venue's average price and fee.

An order's budget is released only on proof that the venue does not hold it: the adapter marks
the error ``not_placed`` (the venue refused it, it never left the process, or a lookup by client
order id found nothing), or a later reconciliation by client order id finds nothing. Any other
outcome stays counted and is reconciled by client order id on the following bars (never re-sent).
A client order id is used once: a second order with it is rejected without reaching the venue.
A cancel never decides what filled: the order is read back after it and every fill is booked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from peaktrade.adapters.errors import ExchangeError, InvalidOrderError
from peaktrade.orders.model import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus
from peaktrade.orders.paper import PaperExecutor, PaperMarketContext, executable_price

_DONE = ("closed", "canceled", "expired", "rejected")


class ExchangeExecutor:
    """Orders through an :class:`~peaktrade.adapters.base.ExchangeClient` (see the module docstring).

    Parameters
    ----------
    client
        The adapter (e.g. ``KrakenClient``).
    context
        The pipeline's market context (live price and market time).
    fees, slippage
        Cost model of simulated fills (validate-only mode).
    budget
        Anything with ``release(client_order_id)`` (e.g. :class:`~peaktrade.live.budget.TestnetBudget`):
        told when an order is proven absent at the venue, so its reservation is given back.
    fill_wait, poll
        How long to wait for a placed market order to close, and the polling step (seconds).
    sleep
        Waiting (tests inject a fake).
    """

    kind = "exchange"

    def __init__(self, client: Any, context: PaperMarketContext, *, fees: float = 0.0, slippage: float = 0.0,
                 budget: Any = None, fill_wait: float = 5.0, poll: float = 0.05,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.context = context
        self.budget = budget
        self.fill_wait = float(fill_wait)
        self.poll = float(poll)
        self.sleep = sleep
        self._paper = PaperExecutor(context, fees=fees, slippage=slippage)
        self._pending: dict[str, tuple[OrderRequest, str | None, float]] = {}  # cid -> (request, venue id, booked)
        self._used: set[str] = set()  # client order ids this executor has sent (single-use)
        self._quoted: dict[str, float] = {}  # client order id -> the market price its checks were run at
        self.descriptions: list[str] = []
        self.events: list[dict[str, Any]] = []

    @property
    def validate_only(self) -> bool:
        return bool(getattr(self.client, "validate_only", False))

    def _release(self, cid: str) -> None:
        if self.budget is not None:
            self.budget.release(cid)

    def _fills(self, req: OrderRequest, filled: float, average: float | None, fee: float) -> tuple[OrderFill, ...]:
        if filled <= 0 or not average:
            return ()
        return (OrderFill(req.client_order_id, req.symbol, req.side, float(filled), float(average), float(fee),
                          self.context.time, req.tag),)

    # -- the price orders are checked at (ExecutionPipeline.executable_price) ---------------
    def market_price(self, symbol: str, side: str) -> float:
        """Return what an order of ``side`` trades against now: the venue's ask (buy) or bid (sell).

        Validate-only fills are simulated at the context's price, so that is their market price.
        """
        if self.validate_only:
            return self._paper.market_price(symbol, side)
        t = self.client.fetch_ticker(symbol)
        px = t.ask if side == "buy" else t.bid
        return float(px) if px else float("nan")

    def executable_price(self, request: OrderRequest) -> float:
        """Return the most one unit of ``request`` can cost or be worth: venue ask/bid + slippage bound + fees.

        The market price it starts from is the order's *decision price*: :meth:`submit` passes it to the
        adapter, whose price collar checks it against the venue's mid fetched right before each attempt
        to send, so an order is never sent once the market has moved beyond the collar from the price its
        checks (limits, budget) approved it at.
        """
        market = self.market_price(request.symbol, request.side)
        if len(self._quoted) > 4096:  # quotes of orders the pipeline denied are never submitted
            self._quoted.clear()
        self._quoted[request.client_order_id] = market
        return executable_price(request, market, self._paper.costs)

    # -- OrderExecutor ---------------------------------------------------------------------
    def submit(self, request: OrderRequest) -> OrderExecutionResult:
        cid = request.client_order_id
        if cid in self._used:  # single-use: never sent twice, and the first order's budget stays counted
            return OrderExecutionResult(request, OrderStatus.REJECTED,
                                        reason=f"duplicate client_order_id {cid!r}: already used by this run")
        self._used.add(cid)
        decided = self._quoted.pop(cid, None)
        if decided is not None and not (decided > 0 and math.isfinite(decided)):
            decided = None  # no quote (an exit checked at the bar's price): the collar checks the touch
        try:
            order = self.client.create_order(request.symbol, request.side, request.type, request.quantity,
                                             request.limit_price, client_order_id=cid,
                                             time_in_force=request.time_in_force, decision_price=decided)
        except ExchangeError as e:
            if getattr(e, "not_placed", False):  # proven absent at the venue: refused, never sent, or reconciled
                self._release(cid)
                return OrderExecutionResult(request, OrderStatus.REJECTED, reason=str(e))
            # the venue may hold it: stays counted, reconciled by client order id on the next bars
            self._pending[cid] = (request, None, 0.0)
            self.events.append({"event": "outcome_unknown", "client_order_id": cid, "error": str(e)})
            return OrderExecutionResult(request, OrderStatus.ACCEPTED, reason=f"outcome unknown: {e}")
        if order.validated_only:
            self.descriptions.append(order.description)
            res = self._paper.submit(request)
            return OrderExecutionResult(request, res.status, res.fills,
                                        reason=f"validated by venue: {order.description}".strip())
        return self._settle(request, order.id, booked=0.0, wait=self.fill_wait)

    def _settle(self, req: OrderRequest, venue_id: str | None, *, booked: float, wait: float) -> OrderExecutionResult:
        """Read the order back until it is done (or ``wait`` runs out); return what is new since ``booked``."""
        deadline = time.monotonic() + wait
        order, absent = None, False
        while True:
            try:
                if venue_id:
                    order = self.client.fetch_order(venue_id, req.symbol)
                else:
                    order = self.client.find_order(req.client_order_id, req.symbol)
                    absent = order is None  # the venue answered: it holds no order with this id
            except ExchangeError:
                order, absent = None, False
            if absent or (order is not None and order.status in _DONE):
                break
            if time.monotonic() >= deadline:
                break
            self.sleep(self.poll)
        if absent:
            # reconciled: the order whose outcome was unknown never reached the book; give its budget back
            self._pending.pop(req.client_order_id, None)
            self._release(req.client_order_id)
            self.events.append({"event": "reconciled_absent", "client_order_id": req.client_order_id})
            return OrderExecutionResult(req, OrderStatus.REJECTED,
                                        reason="reconciled: the venue holds no order with this client order id")
        if order is None:
            self._pending[req.client_order_id] = (req, venue_id, booked)
            return OrderExecutionResult(req, OrderStatus.ACCEPTED, reason="order status not readable yet")
        return self._apply(req, order, booked)

    def _apply(self, req: OrderRequest, order: Any, booked: float) -> OrderExecutionResult:
        """Book what ``order`` (as the venue reports it) filled beyond ``booked``; keep it pending unless done."""
        new_qty = max(order.filled - booked, 0.0)
        fills = ()
        # the venue's exact cost / filled when it reports it (its average price may be rounded)
        average = order.cost / order.filled if order.cost and order.filled else order.average
        if new_qty > 1e-15 and average:
            # book the increment at the venue's average; fee pro rata of what is new
            fee = order.fee * (new_qty / order.filled) if order.filled else 0.0
            fills = self._fills(req, new_qty, average, fee)
        done = order.status in _DONE
        if not done:
            self._pending[req.client_order_id] = (req, order.id, booked + new_qty)
            return OrderExecutionResult(req, OrderStatus.PARTIALLY_FILLED if order.filled else OrderStatus.ACCEPTED,
                                        fills)
        self._pending.pop(req.client_order_id, None)
        if order.filled >= req.quantity * (1 - 1e-9):
            return OrderExecutionResult(req, OrderStatus.FILLED, fills)
        if order.filled > 0:
            return OrderExecutionResult(req, OrderStatus.PARTIALLY_FILLED, fills, reason=order.status)
        if order.status == "rejected":
            self._release(req.client_order_id)
        return OrderExecutionResult(req, OrderStatus.CANCELLED if order.status != "rejected" else OrderStatus.REJECTED,
                                    fills, reason=order.status)

    def on_bar(self) -> list[OrderExecutionResult]:
        """Reconcile orders still in flight (unknown outcome, or not done); return their new fills."""
        out = []
        if self.validate_only:
            out.extend(self._paper.on_bar())
        for cid, (req, vid, booked) in list(self._pending.items()):
            self._pending.pop(cid, None)
            res = self._settle(req, vid, booked=booked, wait=0.0)
            if res.fills or res.status is not OrderStatus.ACCEPTED:
                out.append(res)
        return out

    def settle_all(self, wait: float = 2.0) -> list[OrderExecutionResult]:
        """At the end of a run: wait up to ``wait`` seconds for in-flight orders; return their fills."""
        deadline = time.monotonic() + wait
        out = self.on_bar()
        while self._pending and time.monotonic() < deadline:
            self.sleep(self.poll)
            out.extend(self.on_bar())
        return out

    def adopt_used(self, client_order_ids: Any) -> None:
        """Mark client order ids as used (a resumed run's): none of them is ever sent again."""
        self._used.update(client_order_ids)

    def adopt(self, request: OrderRequest, venue_id: str, booked: float) -> None:
        """Take over an order a previous process of the run placed (``booked`` of it already booked): it is
        reconciled on the next bars like one of ours in flight, and its client order id is never re-sent."""
        self._used.add(request.client_order_id)
        self._pending[request.client_order_id] = (request, venue_id, float(booked))

    @property
    def pending(self) -> list[str]:
        return list(self._pending)

    def cancel(self, client_order_id: str) -> OrderExecutionResult:
        """Cancel an order of this run; return what the venue holds afterwards, with every fill not yet booked.

        The order is read back after the cancel (the adapter does it): an order that filled before or
        during the cancel (e.g. during a retry's backoff) comes back ``FILLED`` with its fills. When
        the cancel or the read-back fails, the error is raised and the order stays pending: the next
        bars reconcile it and book its fills.
        """
        pend = self._pending.get(client_order_id)
        if self.validate_only and pend is None:
            return self._paper.cancel(client_order_id)
        if pend is None:
            raise InvalidOrderError(f"cancel: {client_order_id} is not an open order of this run", operation="cancel")
        req, venue_id, booked = pend
        order = self.client.cancel_order(order_id=venue_id, client_order_id=client_order_id, symbol=req.symbol)
        self._pending.pop(client_order_id, None)
        res = self._apply(req, order, booked)
        return res if res.status is not OrderStatus.CANCELLED else OrderExecutionResult(
            req, OrderStatus.CANCELLED, res.fills, reason="cancelled")

    def open_orders(self) -> list[OrderRequest]:
        if self.validate_only:
            return self._paper.open_orders()
        return [p[0] for p in self._pending.values()]
