"""The one classifier: ccxt exceptions into peaktrade's venue errors (ccxt is never imported here).

Every call through an adapter (the order path, the data downloader, the live poller) is classified
here, so the same venue answer means the same thing everywhere. Maintenance (ccxt ``OnMaintenance``,
Kraken's ``EService:Market in cancel_only/post_only mode``) and ``ExchangeNotAvailable``
(``EService:Unavailable``, ``EService:Busy``) are :class:`RetryableError`: reads retry them with
backoff; an order refused that way is proven not placed (the venue answered with its own error) and is
re-sent only after reconciling by client order id (see :mod:`peaktrade.adapters.kraken.client`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from peaktrade.adapters.errors import ExchangeError, InvalidOrderError, OperationalError, RetryableError

MASK = "***"

# Kraken strings whose ccxt class is misleading (see docs/reference kraken_rest.md §3.4).
_OPERATIONAL_TEXT = ("EGeneral:Temporary lockout", "EAPI:Invalid key", "EAPI:Invalid signature",
                     "EGeneral:Permission denied")
_RETRYABLE_TEXT = ("EService:Unavailable", "EService:Busy", "EService:Throttled", "EAPI:Rate limit exceeded",
                   "EOrder:Rate limit exceeded", "EOrder:Domain rate limit exceeded", "EGeneral:Too many requests",
                   "EAPI:Invalid nonce")
_INVALID_TEXT = ("EOrder:", "EGeneral:Invalid arguments", "EQuery:Unknown asset pair", "EQuery:Invalid asset pair")
# A Kraken error string in the answer: the venue itself answered (the request was not processed) ...
_VENUE_CODES = ("EService:", "EAPI:", "EGeneral:", "EOrder:", "EQuery:")
# ... except these, after which Kraken says the request's outcome is unknown.
_UNKNOWN_OUTCOME_TEXT = ("EGeneral:Internal error",)


def venue_refused(err: BaseException) -> bool:
    """Return whether the venue itself answered ``err`` with a Kraken error (the request was not processed).

    An HTTP status without a Kraken error body (401, 407, 422, 5xx, 511, a proxy's page), a timeout
    or a dropped connection is *not* such an answer: the request may have been processed.
    """
    text = str(err)
    return any(c in text for c in _VENUE_CODES) and not any(t in text for t in _UNKNOWN_OUTCOME_TEXT)


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Return ``text`` with every secret (and anything that looks like an API-Sign header) masked."""
    out = str(text)
    for s in secrets:
        if s and len(s) >= 4:
            out = out.replace(s, MASK)
    return out


def _ccxt():
    return sys.modules.get("ccxt")


def classify(exc: BaseException) -> type[ExchangeError]:
    """Return the peaktrade error class for ``exc`` (a ccxt exception or a plain Python one)."""
    if isinstance(exc, ExchangeError):
        return type(exc)
    text = str(exc)
    ccxt = _ccxt()
    if ccxt is not None and isinstance(exc, ccxt.BaseError):
        if any(t in text for t in _OPERATIONAL_TEXT):
            return OperationalError
        # timeouts, DDoS/rate limits, not available, maintenance (a temporary venue state), invalid nonce
        if isinstance(exc, ccxt.NetworkError):
            return RetryableError
        if any(t in text for t in _RETRYABLE_TEXT):
            return RetryableError
        if isinstance(exc, (ccxt.InvalidOrder, ccxt.InsufficientFunds, ccxt.BadSymbol, ccxt.BadRequest)):
            return InvalidOrderError
        if isinstance(exc, (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended,
                            ccxt.NotSupported)):
            return OperationalError
        if any(t in text for t in _INVALID_TEXT):
            return InvalidOrderError
        return OperationalError
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return RetryableError
    return OperationalError


def translate(exc: BaseException, *, operation: str, secrets: Iterable[str | None] = ()) -> ExchangeError:
    """Return ``exc`` as a peaktrade :class:`ExchangeError` (message shortened, secrets masked)."""
    if isinstance(exc, ExchangeError):
        return exc
    cls = classify(exc)
    msg = " ".join(scrub(str(exc), secrets).split())[:300]
    name = type(exc).__name__
    return cls(f"{operation}: {name}: {msg}" if msg else f"{operation}: {name}", operation=operation,
               venue_class=name)
