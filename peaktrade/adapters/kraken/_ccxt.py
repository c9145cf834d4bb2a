"""ccxt client construction and ccxt exception classification (ccxt is imported lazily)."""

from __future__ import annotations

import sys
from typing import Any

from peaktrade.errors import PeakTradeError, bad_value

#: Kraken's public OHLC endpoint returns only the latest 720 candles of any interval.
OHLCV_HISTORY_LIMIT = 720


def public_client(exchange_id: str = "kraken", **opts: Any) -> Any:
    """Return a ccxt exchange for public market data (no API keys), with rate limiting enabled.

    Parameters
    ----------
    exchange_id
        ccxt exchange id, e.g. ``"kraken"``.
    **opts
        ccxt options overriding the defaults ``enableRateLimit=True`` and ``timeout=30000`` (ms).

    Raises
    ------
    PeakTradeError
        When ccxt has no exchange of that id.
    """
    import ccxt

    if exchange_id not in ccxt.exchanges:
        near = [e for e in ccxt.exchanges if e.startswith(str(exchange_id)[:3])][:5]
        raise PeakTradeError(bad_value("exchange", exchange_id, f"a ccxt exchange id such as {near or ['kraken']}"))
    return getattr(ccxt, exchange_id)({"enableRateLimit": True, "timeout": 30_000, **opts})


def _ccxt_module():
    # An exception raised by ccxt means ccxt is imported: never import it just to classify.
    return sys.modules.get("ccxt")


def is_exchange_error(exc: BaseException) -> bool:
    """Return whether ``exc`` is any ccxt error."""
    from peaktrade.adapters.errors import ExchangeError

    if isinstance(exc, ExchangeError):
        return True
    ccxt = _ccxt_module()
    return ccxt is not None and isinstance(exc, ccxt.BaseError)


def is_rate_limit(exc: BaseException) -> bool:
    """Return whether ``exc`` says the venue throttled us (ccxt ``RateLimitExceeded`` or ``DDoSProtection``)."""
    ccxt = _ccxt_module()
    return ccxt is not None and isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection))


def is_retryable(exc: BaseException) -> bool:
    """Return whether retrying may succeed: rate limits and network trouble (ccxt ``NetworkError``).

    Invalid requests (unknown symbol, unsupported timeframe, ...) and authentication errors are
    not retryable.
    """
    from peaktrade.adapters.errors import RetryableError

    if isinstance(exc, RetryableError):  # already translated by the KrakenClient adapter
        return True
    ccxt = _ccxt_module()
    return ccxt is not None and isinstance(exc, ccxt.NetworkError)


def describe_error(exc: BaseException) -> str:
    """Return a one-line description of an exchange error (class name and a shortened message)."""
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg[:300]}" if msg else type(exc).__name__
