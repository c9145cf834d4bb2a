"""Key-less public market-data clients: Kraken's own adapter, or any other ccxt exchange (ccxt is imported lazily).

Both are :class:`~peaktrade.adapters.base.ExchangeClient` s: public methods work through the one
retry loop and the one error classifier of this package; every private method is refused before
anything is sent. This package is the project's one ccxt boundary, so the generic client lives here
too (it shares Kraken's classifier: a ccxt exception class means the same thing on every venue).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from peaktrade.adapters.base import (
    Balance,
    Capabilities,
    ExchangeClient,
    VenueOrder,
    VenueTrade,
)
from peaktrade.adapters.errors import EndpointDenied
from peaktrade.adapters.kraken._errors import translate
from peaktrade.adapters.kraken.client import (
    KRAKEN_CAPABILITIES,
    PUBLIC_DATA_RETRY,
    KrakenClient,
    PublicMarketData,
    RetryPolicy,
    call_with_retry,
)
from peaktrade.errors import PeakTradeError, bad_value

#: Candles per OHLCV request when ccxt does not say (its most common page size).
_DEFAULT_OHLCV_LIMIT = 500


def public_client(exchange_id: str = "kraken", **opts: Any) -> ExchangeClient:
    """Return a key-less :class:`~peaktrade.adapters.base.ExchangeClient` for public market data.

    ``"kraken"`` is a :class:`~peaktrade.adapters.kraken.KrakenClient` with ``public_only=True``; any
    other ccxt exchange id is a :class:`CcxtPublicClient` whose capabilities come from ccxt's own
    description of the exchange. Reads are retried with :data:`PUBLIC_DATA_RETRY` unless ``retry=`` is
    given; ccxt's rate limiter is on.

    Parameters
    ----------
    exchange_id
        ccxt exchange id, e.g. ``"kraken"``.
    **opts
        Keyword options of the client (``retry``, ``sleep``, ``rand``, ``timeout_ms``, ``rate_limit``,
        ``exchange``; for Kraken also ``base_url``, ``simulator``, ``sim_hosts``).

    Raises
    ------
    PeakTradeError
        When ccxt has no exchange of that id.
    """
    opts.setdefault("retry", PUBLIC_DATA_RETRY)
    opts.setdefault("timeout_ms", 30_000)
    if exchange_id == KRAKEN_CAPABILITIES.venue:
        return KrakenClient(public_only=True, **opts)
    import ccxt

    if exchange_id not in ccxt.exchanges:
        near = [e for e in ccxt.exchanges if e.startswith(str(exchange_id)[:3])][:5]
        raise PeakTradeError(bad_value("exchange", exchange_id, f"a ccxt exchange id such as {near or ['kraken']}"))
    return CcxtPublicClient(exchange_id, **opts)


def capabilities_of(exchange: Any) -> Capabilities:
    """Return what a ccxt exchange says it supports for public data, as :class:`Capabilities`."""
    features = ((getattr(exchange, "features", None) or {}).get("spot") or {}).get("fetchOHLCV") or {}
    limit = features.get("limit")
    return Capabilities(
        venue=str(exchange.id), has_testnet=False, validate_only_orders=False, client_order_id=False,
        query_by_client_order_id=False, order_types=(), time_in_force=(),
        ohlcv_history_limit=int(limit) if isinstance(limit, int) and limit > 0 else _DEFAULT_OHLCV_LIMIT,
        timeframes=tuple(getattr(exchange, "timeframes", None) or ()),
    )


class CcxtPublicClient(PublicMarketData):
    """Public market data of any ccxt exchange through the port (no credentials; private calls refused).

    Parameters
    ----------
    exchange_id
        ccxt exchange id.
    exchange
        A ccxt-like object to use instead of building ``ccxt.<exchange_id>`` (tests).
    retry, sleep, rand
        Backoff policy and its clock and randomness.
    timeout_ms, rate_limit
        ccxt request timeout and client-side rate limiter.
    """

    def __init__(self, exchange_id: str, *, exchange: Any = None, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, rand: Callable[[], float] = random.random,
                 timeout_ms: int = 30_000, rate_limit: bool = True) -> None:
        if exchange is None:
            import ccxt

            exchange = getattr(ccxt, exchange_id)({"enableRateLimit": bool(rate_limit), "timeout": int(timeout_ms)})
        self._ex = exchange
        self.capabilities = capabilities_of(exchange)
        self.retry = retry or PUBLIC_DATA_RETRY
        self._sleep = sleep
        self._rand = rand

    def __repr__(self) -> str:
        return f"CcxtPublicClient({self.capabilities.venue!r}, credentials=public only)"

    def _call(self, operation: str, fn: Callable[[], Any]) -> Any:
        return call_with_retry(operation, fn, retry=self.retry, translate=lambda e, op: translate(e, operation=op),
                               sleep=self._sleep, rand=self._rand)

    def _refuse(self, operation: str) -> Any:
        raise EndpointDenied(f"refused before sending: {operation} is a private request and this "
                             f"{self.capabilities.venue} client is key-less (public market data only)",
                             operation=operation)

    # -- public market data (and PublicMarketData's) ---------------------------------------------
    def milliseconds(self) -> int:
        return int(self._ex.milliseconds())


    # -- private: refused ------------------------------------------------------------------------
    def fetch_balance(self) -> Balance:
        return self._refuse("fetch_balance")

    def create_order(self, symbol: str, side: str, type: str, amount: float, price: float | None = None, *,
                     client_order_id: str, time_in_force: str = "GTC", reduce_only: bool = False,
                     position: float | None = None, decision_price: float | None = None) -> VenueOrder:
        return self._refuse("create_order")

    def cancel_order(self, *, order_id: str | None = None, client_order_id: str | None = None,
                     symbol: str | None = None) -> VenueOrder:
        return self._refuse("cancel_order")

    def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return self._refuse("fetch_open_orders")

    def fetch_closed_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return self._refuse("fetch_closed_orders")

    def fetch_order(self, order_id: str, symbol: str | None = None) -> VenueOrder:
        return self._refuse("fetch_order")

    def find_order(self, client_order_id: str, symbol: str | None = None) -> VenueOrder | None:
        return self._refuse("find_order")

    def fetch_my_trades(self, symbol: str | None = None, since: int | None = None) -> list[VenueTrade]:
        return self._refuse("fetch_my_trades")


#: Where public market data comes from: the exchange (``[data] exchange``) or the local simulator.
VENUES = ("exchange", "sim")


def venue_client(venue: str, *, exchange: str, sim_url: str, **opts: Any) -> ExchangeClient:
    """Return the public market-data client of ``venue`` (``"exchange"`` or ``"sim"``).

    ``"sim"`` is Kraken's own adapter with ccxt's URLs pointed at the local Kraken-protocol simulator
    at ``sim_url`` (as the testnet's ``kraken-sim`` mode does), key-less; the adapter refuses a
    ``sim_url`` whose host is not a simulator's (loopback or ``[safety] testnet_hosts``).
    """
    if venue == "sim":
        return public_client(KRAKEN_CAPABILITIES.venue, base_url=sim_url, simulator=True, rate_limit=False, **opts)
    if venue == "exchange":
        return public_client(exchange, **opts)
    raise PeakTradeError(bad_value("--venue", venue, f"one of {list(VENUES)}"))


def unreachable_hint(venue: str, *, sim_url: str) -> str:
    """Return what to do when the market-data venue cannot be reached (appended to the one-line error)."""
    if venue == "sim":
        return (f"is the simulator running at {sim_url}? start it with `peaktrade sim-exchange serve` "
                f"(or pass --sim-url URL)")
    return "offline? start the local simulator (`peaktrade sim-exchange serve`) and pass --venue sim"


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) is a venue that did not answer (network, timeout)."""
    from peaktrade.adapters.errors import RetryableError

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, RetryableError):
            return True
        seen = seen.__cause__
    return False
