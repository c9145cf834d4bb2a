"""The three kinds of venue error core code sees (convention 5).

Adapters translate every library error at their boundary into exactly one of these; only
:class:`RetryableError` is ever retried (with backoff). Messages never carry secrets.
"""

from __future__ import annotations

from peaktrade.errors import PeakTradeError


class ExchangeError(PeakTradeError):
    """Base of the translated venue errors.

    Attributes
    ----------
    operation
        The port method that failed (``"create_order"``, ``"fetch_balance"``, ...).
    venue_class
        Class name of the original library exception (e.g. ``"RequestTimeout"``), or ``""``.
    not_placed
        Set by an adapter on an order-placing error when it has *proof* that no order exists: the
        venue answered with a refusal, the request never left the process, or a lookup by client
        order id found nothing. Without it the order's fate is unknown and callers must reconcile
        (a budget is released only on proof).
    """

    not_placed: bool = False

    def __init__(self, message: str, *, operation: str = "", venue_class: str = "") -> None:
        super().__init__(message)
        self.operation = operation
        self.venue_class = venue_class


class RetryableError(ExchangeError):
    """Transient: network trouble, timeouts, throttling, venue busy. Retrying may succeed."""


class InvalidOrderError(ExchangeError):
    """The venue refused the order itself (arguments, minimums, funds, unknown order). Never retried."""


class OperationalError(ExchangeError):
    """Everything else: authentication, permissions, maintenance, unknown venue errors, safety refusals.

    Never retried; a human has to look.
    """


class EndpointDenied(OperationalError):
    """The safety layer refused the endpoint before anything was sent."""

    not_placed = True  # refused before sending: nothing can exist at the venue


class OutcomeUnknown(RetryableError):
    """An order's fate could not be established (the venue may or may not hold it); reconcile first."""
