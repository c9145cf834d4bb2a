"""The ``ExchangeClient`` port: what core code needs from a venue, in peaktrade's own types.

Adapters (``peaktrade.adapters.kraken``) implement it; nothing outside ``adapters/`` sees a ccxt
object or a ccxt exception. Errors are :mod:`peaktrade.adapters.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Market:
    """One tradable market and its trading rules."""

    symbol: str
    id: str
    base: str
    quote: str
    active: bool = True
    amount_min: float | None = None
    cost_min: float | None = None
    price_precision: float | None = None
    amount_precision: float | None = None
    maker_fee: float | None = None
    taker_fee: float | None = None


@dataclass(frozen=True)
class Ticker:
    symbol: str
    timestamp_ms: int | None
    bid: float | None
    ask: float | None
    last: float | None

    @property
    def mid(self) -> float | None:
        """Return (bid + ask) / 2, else last."""
        if self.bid and self.ask:
            return (self.bid + self.ask) / 2
        return self.last


@dataclass(frozen=True)
class OrderBook:
    symbol: str
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Balance:
    """Per-currency totals and free amounts."""

    total: dict[str, float] = field(default_factory=dict)
    free: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class VenueOrder:
    """An order as the venue reports it.

    ``status``: ``open`` | ``closed`` | ``canceled`` | ``expired`` | ``rejected`` | ``validated``
    (validate-only: checked by the venue, never placed; ``id`` is then None).
    """

    id: str | None
    client_order_id: str | None
    symbol: str
    side: str
    type: str
    amount: float
    price: float | None
    status: str
    filled: float = 0.0
    average: float | None = None
    fee: float = 0.0
    timestamp_ms: int | None = None
    description: str = ""
    validated_only: bool = False
    cost: float | None = None  # quote amount of what was filled, fees excluded (exact: average may be rounded)


@dataclass(frozen=True)
class VenueTrade:
    """One of our executions."""

    id: str
    order_id: str | None
    symbol: str
    side: str
    amount: float
    price: float
    fee: float
    timestamp_ms: int | None


@dataclass(frozen=True)
class Capabilities:
    """What a venue supports, as data (convention 6): code asks, never branches on a venue name."""

    venue: str
    has_testnet: bool
    validate_only_orders: bool
    client_order_id: bool
    query_by_client_order_id: bool
    order_types: tuple[str, ...]
    time_in_force: tuple[str, ...]
    #: Most candles one OHLCV request returns (Kraken: 720). The downloader's page size and the live
    #: poller's request size default to it; no caller hard-codes a venue's number.
    ohlcv_history_limit: int
    timeframes: tuple[str, ...] = ()
    #: True when the OHLCV endpoint serves only the latest ``ohlcv_history_limit`` candles of an interval
    #: (Kraken): older history cannot be downloaded through the API at all.
    ohlcv_latest_only: bool = False
    #: Hosts of the venue's real-money API (exact names or ``*.domain`` patterns): never a testnet host or
    #: a simulator, whatever the config says (see :mod:`peaktrade.adapters.hosts`).
    live_hosts: tuple[str, ...] = ()
    #: The venue cancels every open order of the account after a timeout unless re-armed (Kraken's
    #: ``CancelAllOrdersAfter``): the adapter then has ``cancel_all_orders_after(timeout_seconds)``.
    dead_man_switch: bool = False


@runtime_checkable
class ExchangeClient(Protocol):
    """The venue port. Every method raises only :class:`~peaktrade.adapters.errors.ExchangeError` subclasses."""

    capabilities: Capabilities

    def load_markets(self, *, reload: bool = False) -> dict[str, Market]: ...

    def fetch_ohlcv(self, symbol: str, timeframe: str, since: int | None = None,
                    limit: int | None = None) -> list[list[float]]: ...

    def fetch_ticker(self, symbol: str) -> Ticker: ...

    def fetch_order_book(self, symbol: str, limit: int | None = None) -> OrderBook: ...

    def fetch_balance(self) -> Balance: ...

    def create_order(self, symbol: str, side: str, type: str, amount: float, price: float | None = None, *,
                     client_order_id: str, time_in_force: str = "GTC", reduce_only: bool = False,
                     position: float | None = None, decision_price: float | None = None) -> VenueOrder: ...

    def cancel_order(self, *, order_id: str | None = None, client_order_id: str | None = None,
                     symbol: str | None = None) -> VenueOrder:
        """Cancel; return the order as the venue holds it afterwards (read back, fills included)."""

    def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]: ...

    def fetch_closed_orders(self, symbol: str | None = None) -> list[VenueOrder]: ...

    def fetch_order(self, order_id: str, symbol: str | None = None) -> VenueOrder: ...

    def find_order(self, client_order_id: str, symbol: str | None = None) -> VenueOrder | None: ...

    def fetch_my_trades(self, symbol: str | None = None, since: int | None = None) -> list[VenueTrade]: ...

    def milliseconds(self) -> int: ...

    def fetch_time(self) -> int: ...

    def fetch_status(self) -> dict[str, Any]: ...
