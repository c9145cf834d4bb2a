"""KrakenClient: the :class:`~peaktrade.adapters.base.ExchangeClient` port over ccxt ``kraken``.

Guarantees (each tested):

- Every ccxt exception is translated at this boundary, by the one classifier
  (:func:`peaktrade.adapters.kraken.classify`), into a
  :class:`~peaktrade.adapters.errors.RetryableError`, :class:`~peaktrade.adapters.errors.InvalidOrderError`
  or :class:`~peaktrade.adapters.errors.OperationalError`; only retryable ones are retried, with
  exponential backoff and jitter (``sleep`` and ``rand`` are injectable). Every read goes through the one
  retry loop, :func:`call_with_retry`; placing an order never re-sends before reconciling (below).
- A key-less client (``public_only=True``, what :func:`peaktrade.adapters.kraken.public_client` builds for
  market data) takes no credentials and refuses every private request before it is sent.
- Every order carries a client order id (Kraken ``cl_ord_id``). When placing an order ends in an
  error that is not the venue's own refusal (a timeout, a dropped connection, an HTTP status
  without a Kraken error body such as 401, 407, 422, 5xx, 511: the venue may have taken it), the
  client first *reconciles* by that id (open, then closed orders) and returns the order it finds;
  it only re-sends (retryable errors) or reports a refusal when the venue provably does not hold
  it, and raises :class:`~peaktrade.adapters.errors.OutcomeUnknown` when it cannot tell. An order
  is never placed twice, and an error is marked ``not_placed`` only on proof.
- A cancel never decides what filled: after it (however it ended: done, retried, answered
  ``Unknown order``), the order is read back by venue id, then by client order id (open and
  closed orders), and returned with its fills; :class:`~peaktrade.adapters.errors.OutcomeUnknown`
  when it cannot be read.
- Validate-only mode (``validate_only=True``, and always when the safety guard's environment is
  testnet and the private host is not a testnet host): every ``AddOrder`` carries
  ``validate=true``. It is enforced twice: when the request is built, and at the HTTP transport of
  the ccxt instance, which refuses any order-placing request without ``validate`` before it is sent.
- Before every private request the resolved URL is checked with
  :meth:`peaktrade.safety.SafetyGuard.check_endpoint`; a denial raises
  :class:`~peaktrade.adapters.errors.EndpointDenied` and nothing is sent. Without a guard, private
  requests are refused (fail closed). A request is public only when its URL's path is a
  ``/public/`` path and it carries no API key; anything else is checked as private. A base URL with a
  query, fragment, user info, a ``%``-escape or a non-ASCII host is refused when the client is built.
  A ccxt exchange handed in (``exchange=``) gets the same transport check as one built here.
- Every order-placing request asks :meth:`peaktrade.safety.SafetyGuard.check_wire` at the transport,
  on each attempt, right before it is sent: the kill switch's state is read there (halted: no order;
  reducing: only an order that provably reduces the position, unknown counts as increasing). Cancels
  always pass.
- A live venue host (:attr:`Capabilities.live_hosts`) is never treated as a testnet host: in testnet,
  requests to it are validate-only. A simulator client (``simulator=True``) only talks to loopback or an
  explicitly named non-live simulator host, checked on every request, and refuses the live
  ``KRAKEN_API_*`` credentials of the process.
- API key and secret never appear in exceptions, logs or reprs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from peaktrade.adapters.base import (
    Balance,
    Capabilities,
    Market,
    OrderBook,
    Ticker,
    VenueOrder,
    VenueTrade,
)
from peaktrade.adapters.errors import (
    EndpointDenied,
    ExchangeError,
    InvalidOrderError,
    OutcomeUnknown,
    RetryableError,
)
from peaktrade.adapters.hosts import base_url_problem, live_venue_of, normalize_host, sim_host_problem, url_host
from peaktrade.adapters.kraken._errors import translate, venue_refused

KRAKEN_API_URL = "https://api.kraken.com"

#: What Kraken spot supports, as data (convention 6).
KRAKEN_CAPABILITIES = Capabilities(
    venue="kraken",
    has_testnet=False,  # Kraken spot has no testnet: validate=true or a local simulator
    validate_only_orders=True,
    client_order_id=True,
    query_by_client_order_id=True,
    order_types=("market", "limit"),
    time_in_force=("GTC", "IOC", "FOK"),
    ohlcv_history_limit=720,  # the OHLC endpoint serves only the latest 720 candles of an interval
    ohlcv_latest_only=True,
    timeframes=("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w", "2w"),
    live_hosts=("api.kraken.com", "futures.kraken.com", "*.kraken.com"),
    dead_man_switch=True,
)

#: Private methods that place orders: in validate-only mode their body must carry validate=true.
_PLACING = ("AddOrder", "AddOrderBatch", "EditOrder", "AmendOrder")
_PLACING_LOWER = frozenset(m.lower() for m in _PLACING)
#: Placing methods Kraken documents ``validate`` for; on any other (AmendOrder) the flag proves nothing.
_VALIDATABLE_LOWER = frozenset({"addorder", "addorderbatch", "editorder"})
_ORDER_GONE = ("Unknown order", "Invalid order", "OrderNotFound")
#: Process environment variables holding the live credentials (a simulator client never signs with them).
_LIVE_CREDENTIAL_VARS = ("KRAKEN_API_KEY", "KRAKEN_API_SECRET")
_DELIMS = re.compile(r"[/?#]")


def _request_target(url: str, headers: Any = None) -> tuple[bool, str]:
    """Return ``(private, method)`` of a request URL, failing closed.

    Public only when the URL's *path* holds ``/public/`` and the request carries no API key; a URL where
    ``/private/`` appears anywhere (also after a ``?`` or ``#`` a base URL smuggled in) is private, and
    anything unrecognized is private with an unknown method ``""``.
    """
    text = str(url)
    i = text.find("/private/")
    if i >= 0:
        return True, _DELIMS.split(text[i + len("/private/"):], maxsplit=1)[0]
    keyed = isinstance(headers, dict) and any(str(k).lower() == "api-key" for k in headers)
    try:
        path = urlsplit(text).path
    except ValueError:
        return True, ""
    if "/public/" in path and not keyed:
        return False, path.rsplit("/", 1)[-1]
    return True, ""


def _live_credentials() -> set[str]:
    """Return the live ``KRAKEN_API_*`` values of this process: its environment and the project's ``.env``
    (where :func:`peaktrade.config.load_config` also reads them from)."""
    values = {os.environ.get(v) for v in _LIVE_CREDENTIAL_VARS}
    from peaktrade.config import _read_dotenv, find_project_root

    root = find_project_root()
    if root is not None:
        try:
            dotenv = _read_dotenv(root / ".env")
        except (OSError, UnicodeDecodeError):
            dotenv = {}
        values |= {dotenv.get(v) for v in _LIVE_CREDENTIAL_VARS}
    return {v for v in values if v}


def _is_placing(private: bool, method: str) -> bool:
    """Whether a request may place an order: a placing method in any letter case, or an unrecognized private one."""
    return private and (not method or method.lower() in _PLACING_LOWER)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt ``n`` (0-based) waits ``d/2 + rand()·d/2``,
    ``d = min(max_delay, base_delay · 2**n)``."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int, rand: Callable[[], float]) -> float:
        d = min(self.max_delay, self.base_delay * (2 ** attempt))
        return d / 2 + rand() * d / 2


#: The patience of a public market-data client (downloads, polling): a venue busy, throttling or in
#: maintenance for up to about two minutes is waited out (6 attempts, 2 s doubling to 60 s).
PUBLIC_DATA_RETRY = RetryPolicy(max_attempts=6, base_delay=2.0, max_delay=60.0)


def call_with_retry(operation: str, fn: Callable[[], Any], *, retry: RetryPolicy,
                    translate: Callable[[BaseException, str], ExchangeError], sleep: Callable[[float], None],
                    rand: Callable[[], float]) -> Any:
    """Call ``fn``; retry :class:`RetryableError` with backoff; raise every error translated (the one retry
    loop of every read, whatever the caller: order path, downloader, poller).

    Never used for order placement, which reconciles by client order id before any re-send.
    """
    attempts = max(1, retry.max_attempts)
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 — translated below
            err = translate(e, operation)
        if not isinstance(err, RetryableError) or attempt + 1 >= attempts:
            raise err from None
        sleep(retry.delay(attempt, rand))
    raise AssertionError("unreachable")  # pragma: no cover


def market_of(symbol: str, m: dict[str, Any]) -> Market:
    """Return a ccxt market as a :class:`Market`."""
    lim, prec = m.get("limits") or {}, m.get("precision") or {}
    return Market(symbol, str(m.get("id")), str(m.get("base")), str(m.get("quote")),
                  bool(m.get("active", True)), _f((lim.get("amount") or {}).get("min")),
                  _f((lim.get("cost") or {}).get("min")), _f(prec.get("price")),
                  _f(prec.get("amount")), _f(m.get("maker")), _f(m.get("taker")))


def ticker_of(symbol: str, t: dict[str, Any]) -> Ticker:
    """Return a ccxt ticker as a :class:`Ticker`."""
    return Ticker(symbol, t.get("timestamp"), _f(t.get("bid")), _f(t.get("ask")), _f(t.get("last")))


def order_book_of(symbol: str, b: dict[str, Any]) -> OrderBook:
    """Return a ccxt order book as an :class:`OrderBook`."""
    side = lambda rows: tuple((float(r[0]), float(r[1])) for r in rows or [])  # noqa: E731
    return OrderBook(symbol, side(b.get("bids")), side(b.get("asks")), b.get("timestamp"))


def status_of(s: Any) -> dict[str, Any]:
    """Return ccxt's ``fetch_status`` answer reduced to ``status``, ``updated``, ``eta``, ``url``."""
    return {k: s.get(k) for k in ("status", "updated", "eta", "url")} if isinstance(s, dict) else {}


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SHORT_UUID = re.compile(r"^[0-9a-fA-F]{32}$")


def kraken_cl_ord_id(client_order_id: str) -> str:
    """Return the Kraken ``cl_ord_id`` of a peaktrade client order id (deterministic, so reconciliation finds it).

    Kraken accepts a UUID, a 32-hex short UUID, or free ASCII text of at most 18 characters; any
    other id is mapped to the first 32 hex digits of its SHA-256 (a short UUID).
    """
    cid = str(client_order_id)
    if _UUID.match(cid) or _SHORT_UUID.match(cid) or (len(cid) <= 18 and cid.isascii() and cid.isprintable()):
        return cid
    return hashlib.sha256(cid.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Intent:
    """What the transport's wire check needs to know about an order (keyed by its ``cl_ord_id``)."""

    cid: str | None
    symbol: str | None
    side: str | None
    amount: float | None
    position: float | None
    price: float | None = None  # for the price collar: limit, or the touch (ask/bid) when sent
    reference: float | None = None  # the venue's mid fetched right before sending
    reference_error: str | None = None


def _proven_not_placed(err: ExchangeError) -> ExchangeError:
    err.not_placed = True
    return err


def _validate_flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _body_params(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, dict):
        return body
    text = str(body).strip()
    # a key given twice has no value here (None): which one the venue reads is unknown, so it proves nothing
    if text.startswith("{"):
        def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
            keys = [k for k, _ in items]
            return {k: (v if keys.count(k) == 1 else None) for k, v in items}

        try:
            data = json.loads(text, object_pairs_hook=pairs)
            return data if isinstance(data, dict) else {}
        except ValueError:
            return {}
    return {k: (v[0] if len(v) == 1 else None) for k, v in parse_qs(text, keep_blank_values=True).items()}


def _f(x: Any) -> float | None:
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None


class PublicMarketData:
    """The port's public market-data methods over a ccxt exchange ``self._ex``, each through the
    adapter's one retry loop ``self._call`` (shared by :class:`KrakenClient` and the key-less clients)."""

    _ex: Any
    _call: Callable[[str, Callable[[], Any]], Any]

    def load_markets(self, *, reload: bool = False) -> dict[str, Market]:
        raw = self._call("load_markets", lambda: self._ex.load_markets(reload))
        return {sym: market_of(sym, m) for sym, m in (raw or {}).items()}

    def fetch_ohlcv(self, symbol: str, timeframe: str, since: int | None = None,
                    limit: int | None = None) -> list[list[float]]:
        return self._call("fetch_ohlcv", lambda: self._ex.fetch_ohlcv(symbol, timeframe, since, limit))

    def fetch_ticker(self, symbol: str) -> Ticker:
        return ticker_of(symbol, self._call("fetch_ticker", lambda: self._ex.fetch_ticker(symbol)))

    def fetch_order_book(self, symbol: str, limit: int | None = None) -> OrderBook:
        return order_book_of(symbol, self._call("fetch_order_book", lambda: self._ex.fetch_order_book(symbol, limit)))

    def fetch_time(self) -> int:
        return int(self._call("fetch_time", lambda: self._ex.fetch_time()))

    def fetch_status(self) -> dict[str, Any]:
        return status_of(self._call("fetch_status", lambda: self._ex.fetch_status()))


class KrakenClient(PublicMarketData):
    """Kraken spot through ccxt (see the module docstring for the guarantees).

    Parameters
    ----------
    guard
        The session's :class:`~peaktrade.safety.SafetyGuard`; every private request is checked
        with it. None: private requests are refused.
    base_url
        Replace Kraken's URL (``https://api.kraken.com``), e.g. the local simulator's
        ``http://127.0.0.1:PORT``. ccxt appends ``/0/public/<Method>`` and ``/0/private/<Method>``.
    validate_only
        Send every order with ``validate=true`` (checked by Kraken, never placed). Forced on when
        the guard is in testnet and the host is not one of its testnet hosts.
    api_key, api_secret
        Credentials (str or pydantic ``SecretStr``); kept out of every message and repr.
    simulator, sim_hosts
        ``simulator=True``: ``base_url`` is a local simulator. Its host (checked at construction and on
        every request) must be loopback or named in ``sim_hosts`` and never a live venue host. The
        process's live ``KRAKEN_API_KEY`` / ``KRAKEN_API_SECRET`` are refused as credentials of a simulator
        and of any base URL that is not a live venue host.
    exchange
        A ccxt-like object to use instead of ``ccxt.kraken`` (tests).
    public_only
        A key-less client for public market data (:func:`peaktrade.adapters.kraken.public_client`): it
        takes no credentials and refuses every private request (balance, orders, ...) before sending.
    retry, sleep, rand
        Backoff policy and its clock and randomness (tests inject them).
    timeout_ms, rate_limit
        ccxt request timeout and client-side rate limiter (off for a local simulator).
    order_deadline, clock
        Every placed order carries Kraken's ``deadline`` (now + ``order_deadline`` seconds, 2..60;
        None: not sent): the engine refuses it after that. When a placement ends without an answer
        from the venue (timeout, dropped connection, an HTTP status without a Kraken error body),
        the client waits until the deadline has passed before it reconciles, so an order still in
        flight cannot appear after the reconciliation found nothing (which would make a re-send a
        duplicate).
    """

    capabilities = KRAKEN_CAPABILITIES

    def __init__(self, *, guard: Any = None, base_url: str | None = None, validate_only: bool = False,
                 api_key: Any = None, api_secret: Any = None, exchange: Any = None,
                 retry: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random, timeout_ms: int = 10_000,
                 rate_limit: bool | None = None, order_deadline: float | None = 5.0,
                 clock: Callable[[], float] = time.time, simulator: bool = False,
                 sim_hosts: Iterable[str] = (), public_only: bool = False) -> None:
        key = api_key.get_secret_value() if hasattr(api_key, "get_secret_value") else api_key
        secret = api_secret.get_secret_value() if hasattr(api_secret, "get_secret_value") else api_secret
        self._secrets = (key, secret)
        self.public_only = bool(public_only)
        given_keys = (key, secret, getattr(exchange, "apiKey", None), getattr(exchange, "secret", None))
        if self.public_only and any(given_keys):
            raise EndpointDenied("refused: a public-data client takes no API credentials", operation="connect")
        self.simulator = bool(simulator)
        self._sim_hosts = frozenset(normalize_host(h) for h in sim_hosts)
        self._intents: dict[str, _Intent] = {}  # venue cl_ord_id -> intent
        self._intents_lock = threading.Lock()
        self.guard = guard
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rand = rand
        if order_deadline is not None and not 2.0 <= float(order_deadline) <= 60.0:
            raise InvalidOrderError(f"order_deadline={order_deadline!r} is invalid: expected 2..60 seconds "
                                    "(Kraken's deadline window) or None")
        self.order_deadline = order_deadline
        self._clock = clock
        self.base_url = (base_url or KRAKEN_API_URL).rstrip("/")
        # a ccxt exchange (built here or handed in) sends over HTTP: its transport is guarded (below)
        self._guarded = exchange is None or callable(getattr(exchange, "fetch", None))
        bad = base_url_problem(self.base_url)
        if bad is None and self.simulator:
            bad = sim_host_problem(url_host(self.base_url) or "", self._sim_hosts)
        if bad is not None:
            raise EndpointDenied(f"base_url {self.base_url!r} refused: {bad}", operation="connect")
        if self.simulator or live_venue_of(url_host(self.base_url)) is None:
            # the live credentials are only ever sent to the live venue: anything else could replay them there
            live = _live_credentials()
            given = {key, secret, getattr(exchange, "apiKey", None), getattr(exchange, "secret", None)}
            if live & given:
                raise EndpointDenied(f"refused: the live KRAKEN_API_* credentials were given for {self.base_url!r}, "
                                     "which is not a live venue host (a simulator signs with PEAKTRADE_SIM_API_KEY / "
                                     "PEAKTRADE_SIM_API_SECRET)", operation="connect")
        if exchange is None:
            import ccxt

            opts: dict[str, Any] = {"enableRateLimit": base_url is None if rate_limit is None else rate_limit,
                                    "timeout": int(timeout_ms)}
            if key:
                opts["apiKey"] = key
            if secret:
                opts["secret"] = secret
            exchange = ccxt.kraken(opts)
            if base_url is not None:
                exchange.urls["api"]["public"] = self.base_url
                exchange.urls["api"]["private"] = self.base_url
        if self._guarded:
            # also a ccxt exchange handed in: the URL it actually sends to is checked, whatever base_url says
            self._install_transport_guard(exchange)
        self._ex = exchange
        # order-placing requests that reached the HTTP transport (None: a ccxt-like fake without one,
        # where every call is taken as possibly sent)
        self._placing_on_wire: int | None = 0 if self._guarded else None
        host = url_host(self.base_url) or ""
        forced = False
        if guard is not None and getattr(getattr(guard, "environment", None), "value", None) == "testnet":
            # a live venue host is never a testnet host, whatever the guard was given
            forced = host not in getattr(guard, "testnet_hosts", frozenset()) or live_venue_of(host) is not None
        self._validate_only = bool(validate_only or forced)
        self.sent_orders = 0  # order-placing requests handed to ccxt (tests and reports)
        self._clock_offset: int | None = None
        self._clock_measured = 0.0
        self.clock_refresh = 5.0

    # -- identity ---------------------------------------------------------------------------
    @property
    def validate_only(self) -> bool:
        """True when every order is sent with ``validate=true`` (cannot be turned off once on)."""
        return self._validate_only

    def __repr__(self) -> str:
        creds = "public only" if self.public_only else "set" if any(self._secrets) else "none"
        return f"KrakenClient(url={self.base_url!r}, validate_only={self._validate_only}, credentials={creds})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # never pickle credentials along
        raise TypeError("KrakenClient holds credentials and cannot be pickled")

    # -- safety ------------------------------------------------------------------------------
    def _install_transport_guard(self, exchange: Any) -> None:
        """Check every HTTP request ccxt is about to send, whatever code path built it."""
        original = exchange.fetch

        def guarded_fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
            self._check_request(url, body, headers)
            if _is_placing(*_request_target(str(url), headers)):
                self._placing_on_wire += 1  # from here on the venue may hold the order
            return original(url, method, headers, body)

        exchange.fetch = guarded_fetch

    def _check_request(self, url: str, body: Any, headers: Any = None) -> None:
        """Refuse, before it is sent, a request the safety rules do not allow (see the module docstring)."""
        host = url_host(str(url))
        if self.simulator:
            why = "it has no host" if host is None else sim_host_problem(host, self._sim_hosts)
            if why is not None:
                raise EndpointDenied(f"refused before sending: simulator request to {url!r}: {why}",
                                     operation="request")
        private, method = _request_target(str(url), headers)
        if not private:
            return  # public market data may come from anywhere
        name = method or "<unrecognized private request>"
        if self.public_only:
            raise EndpointDenied(f"refused before sending: {name} is a private request and this client is "
                                 "key-less (public market data only)", operation=name)
        params = _body_params(body)
        placing = _is_placing(private, method)
        validated = _validate_flag(params.get("validate")) and method.lower() in _VALIDATABLE_LOWER
        if placing and self._validate_only and not validated:
            raise EndpointDenied(f"refused before sending: {name} to {host} without "
                                 "validate=true while this client is validate-only", operation=name)
        if self.guard is None:
            raise EndpointDenied(f"refused before sending: no safety guard for private request {name} "
                                 "(fail closed)", operation=name)
        decision = self.guard.check_endpoint(str(url), private=True, validate_only=placing and validated)
        if not decision.allowed:
            raise EndpointDenied(f"refused before sending: {decision.reason}", operation=name)
        if placing:
            # the last step before the wire: the kill switch is read now, on every attempt
            with self._intents_lock:
                intent = self._intents.get(str(params.get("cl_ord_id")))
            if intent is None:  # not built by create_order: what the body says, nothing the collar can check
                intent = _Intent(params.get("cl_ord_id"), params.get("pair"), params.get("type"),
                                 _f(params.get("volume")), None, None, None,
                                 f"{name} was not placed through create_order")
            wire = self.guard.check_wire(name, client_order_id=intent.cid, symbol=intent.symbol, side=intent.side,
                                         amount=intent.amount, position=intent.position, price=intent.price,
                                         reference=intent.reference, reference_error=intent.reference_error)
            if not wire.allowed:
                raise EndpointDenied(f"refused before sending: {wire.reason}", operation=name)

    def _remember_intent(self, client_order_id: str, symbol: str, side: str, amount: float,
                         position: float | None) -> None:
        """Keep what the transport's kill-switch check needs to know about an order (by its ``cl_ord_id``).

        A client order id is single-use, so an entry never goes stale; the oldest are dropped past 4096.
        """
        with self._intents_lock:
            self._intents[kraken_cl_ord_id(client_order_id)] = _Intent(
                client_order_id, symbol, side, float(amount), None if position is None else float(position))
            while len(self._intents) > 4096:
                self._intents.pop(next(iter(self._intents)))

    def _price_collar_inputs(self, client_order_id: str, symbol: str, side: str, price: float | None,
                             decision_price: float | None = None) -> None:
        """Fetch the venue's mid now and attach it, with the order's price, to the order's intent.

        The transport's wire check (:meth:`SafetyGuard.check_wire`) compares them against the guard's price
        collar right before the order is sent. The order's price is the one of its prices that deviates most
        from the mid among: a limit order's limit, the caller's ``decision_price`` (what the pipeline sized
        and approved the order at) and, for a market order, the touch it trades against (ask for a buy, bid
        for a sell). The touch alone is no check (it is the venue's own price, from the same ticker as the
        mid): a market order decided on a stale price 30 % away is denied by its decision price. A mid that
        cannot be fetched is recorded as missing with the reason: the guard then denies (fail closed).
        Nothing is fetched when the guard has no collar.
        """
        if getattr(self.guard, "max_price_deviation", None) is None:
            return
        ref: float | None = None
        err: str | None = None
        px = price
        try:
            t = self.fetch_ticker(symbol)
            ref = t.mid if t.bid and t.ask else None  # a last trade is no mid: it may be hours old
            if ref is None:
                err = f"the venue's ticker for {symbol} has no bid and ask"
            candidates = [p for p in (price, decision_price, (t.ask if side == "buy" else t.bid) if price is None
                                      else None) if p is not None]
            dp = _f(decision_price)
            if decision_price is not None and not (dp is not None and math.isfinite(dp) and dp > 0):
                px = decision_price  # unusable: the guard denies it (fail closed)
            elif candidates and ref:
                px = max(candidates, key=lambda p: abs(float(p) / ref - 1.0))
            elif candidates:
                px = candidates[0]
        except ExchangeError as e:
            err = f"fetching the ticker failed: {e}"
        key = kraken_cl_ord_id(client_order_id)
        with self._intents_lock:
            intent = self._intents.get(key)
            if intent is not None:
                self._intents[key] = replace(intent, price=_f(px), reference=ref, reference_error=err)

    def _private(self, method: str, params: dict[str, Any] | None = None) -> None:
        """Check a private call at the method level (also covers ccxt-like fakes without HTTP)."""
        self._check_request(f"{self.base_url}/0/private/{method}", params or {})

    # -- calling -----------------------------------------------------------------------------
    def _translate(self, e: BaseException, operation: str) -> ExchangeError:
        return translate(e, operation=operation, secrets=self._secrets)

    def _call(self, operation: str, fn: Callable[[], Any]) -> Any:
        """Call ``fn`` through the one retry loop (:func:`call_with_retry`)."""
        return call_with_retry(operation, fn, retry=self.retry, translate=self._translate, sleep=self._sleep,
                               rand=self._rand)

    # -- market data (and PublicMarketData's) -----------------------------------------------------
    def milliseconds(self) -> int:
        """Return the venue clock in ms: the local clock corrected by the offset measured with ``fetch_time``
        (re-measured every ``clock_refresh`` seconds: a simulator's clock may run faster than ours).

        (The session poller decides which candles are complete by it; 0 offset when it cannot be measured.)
        """
        local = int(self._ex.milliseconds())
        if self._clock_offset is None or time.monotonic() - self._clock_measured > self.clock_refresh:
            self._clock_measured = time.monotonic()
            try:
                t0 = int(self._ex.milliseconds())
                server = int(self._ex.fetch_time())
                t1 = int(self._ex.milliseconds())
                off = server - (t0 + t1) // 2
                # Kraken's Time has whole seconds: ignore offsets within that resolution
                self._clock_offset = off if abs(off) > 1500 else 0
            except Exception:  # noqa: BLE001 — an unmeasurable offset is taken as none
                self._clock_offset = 0
        return local + self._clock_offset


    # -- account -----------------------------------------------------------------------------
    def fetch_balance(self) -> Balance:
        self._private("BalanceEx")
        b = self._call("fetch_balance", lambda: self._ex.fetch_balance())
        total = {k: float(v) for k, v in (b.get("total") or {}).items() if v is not None}
        free = {k: float(v) for k, v in (b.get("free") or {}).items() if v is not None}
        return Balance(total, free)

    def _order(self, o: dict[str, Any], *, validated: bool = False) -> VenueOrder:
        fee = o.get("fee") or {}
        info = o.get("info") or {}
        descr = info.get("descr") if isinstance(info, dict) else None
        desc = descr.get("order", "") if isinstance(descr, dict) else ""
        status = "validated" if validated else (o.get("status") or "open")
        return VenueOrder(
            id=o.get("id"), client_order_id=o.get("clientOrderId"), symbol=str(o.get("symbol")),
            side=str(o.get("side")), type=str(o.get("type")), amount=_f(o.get("amount")) or 0.0,
            price=_f(o.get("price")), status=str(status), filled=_f(o.get("filled")) or 0.0,
            average=_f(o.get("average")), fee=_f(fee.get("cost") if isinstance(fee, dict) else None) or 0.0,
            timestamp_ms=o.get("timestamp"), description=str(desc or ""), validated_only=validated,
            # Kraken's own cost (ccxt recomputes cost as filled x rounded average)
            cost=_f(info.get("cost")) if isinstance(info, dict) and info.get("cost") is not None else _f(o.get("cost")))

    def create_order(self, symbol: str, side: str, type: str, amount: float, price: float | None = None, *,
                     client_order_id: str, time_in_force: str = "GTC", reduce_only: bool = False,
                     position: float | None = None, decision_price: float | None = None) -> VenueOrder:
        """Place (or, validate-only, validate) one order; see the module docstring for retries.

        ``decision_price`` is the price the caller decided on (the pipeline's market price, which its
        checks sized and approved the order at): the price collar checks it against the venue's fresh mid,
        so a decision on a stale or bad price is never sent, whatever the order type.

        ``reduce_only`` is enforced by the safety layer (spot has no positions to reduce) and not sent.
        ``position`` is the caller's current position in ``symbol`` (base units): with the kill switch in
        reducing state, the order is sent only when it provably reduces it (None: unknown, unless the
        guard approved this client order id as reducing in the pipeline; unknown counts as increasing).
        """
        if not client_order_id:
            raise InvalidOrderError("create_order: a client order id is required", operation="create_order")
        self._remember_intent(client_order_id, symbol, side, amount, position)
        validate = self._validate_only
        params: dict[str, Any] = {"clientOrderId": kraken_cl_ord_id(client_order_id)}
        if time_in_force != "GTC":
            params["timeInForce"] = time_in_force
        if validate:
            params["validate"] = "true"  # the documented lowercase literal (ccxt would send "True")
        self._price_collar_inputs(client_order_id, symbol, side, price, decision_price)
        self._private("AddOrder", {**params, "cl_ord_id": params["clientOrderId"]})
        attempts = max(1, self.retry.max_attempts)
        last: ExchangeError | None = None
        for attempt in range(attempts):
            deadline = None
            if not validate and self.order_deadline is not None:
                deadline = self._clock() + float(self.order_deadline)
                params["deadline"] = datetime.fromtimestamp(deadline, UTC).isoformat(
                    timespec="milliseconds").replace("+00:00", "Z")
            on_wire = self._placing_on_wire
            if attempt:
                self._price_collar_inputs(client_order_id, symbol, side, price, decision_price)  # this attempt's mid
            try:
                self.sent_orders += 1
                raw = self._ex.create_order(symbol, type, side, amount, price, dict(params))
                order = self._order(raw, validated=validate)
                return VenueOrder(**{**order.__dict__, "client_order_id": client_order_id})
            except Exception as e:  # noqa: BLE001 — translated below
                last = self._translate(e, "create_order")
            retryable = isinstance(last, RetryableError) and attempt + 1 < attempts
            sent = on_wire is None or self._placing_on_wire != on_wire
            # validate=true places nothing; a request that never left us placed nothing
            if validate or not sent:
                if retryable:
                    self._sleep(self.retry.delay(attempt, self._rand))
                    continue
                raise _proven_not_placed(last) from None
            refused = venue_refused(last)
            if refused and not isinstance(last, RetryableError):
                raise _proven_not_placed(last) from None  # the venue answered: it refused this order
            # The venue may hold the order (timeout after accept, an HTTP status without a Kraken body):
            # never re-send, never report a refusal, before reconciling by client order id.
            self._sleep(self.retry.delay(attempt, self._rand))
            if deadline is not None and not refused:
                # no answer: the order may still be in flight; past its deadline it can no longer trade
                wait = deadline - self._clock() + 0.5
                if wait > 0:
                    self._sleep(wait)
            try:
                found = self.find_order(client_order_id, symbol)
            except ExchangeError as e:
                raise OutcomeUnknown(f"create_order: {last} and reconciliation by client order id "
                                     f"{client_order_id} failed ({e}): the order may or may not be on the "
                                     "venue; not re-sent", operation="create_order",
                                     venue_class=last.venue_class) from None
            if found is not None:
                return found
            if not retryable:
                raise _proven_not_placed(last) from None  # reconciled: the venue holds no such order
        raise AssertionError("unreachable")  # pragma: no cover

    def find_order(self, client_order_id: str, symbol: str | None = None) -> VenueOrder | None:
        """Return the order with ``client_order_id`` (open, then closed orders), None when the venue has none."""
        venue_cid = kraken_cl_ord_id(client_order_id)
        for method, name in (("fetch_open_orders", "OpenOrders"), ("fetch_closed_orders", "ClosedOrders")):
            self._private(name, {"cl_ord_id": venue_cid})
            fn = getattr(self._ex, method)
            orders = self._call(method, lambda fn=fn: fn(symbol, None, None, {"clientOrderId": venue_cid}))
            for o in orders or []:
                if o.get("clientOrderId") == venue_cid:
                    order = self._order(o)
                    return VenueOrder(**{**order.__dict__, "client_order_id": client_order_id})
        return None

    def cancel_order(self, *, order_id: str | None = None, client_order_id: str | None = None,
                     symbol: str | None = None) -> VenueOrder:
        """Cancel by venue id or client order id; return the order as the venue holds it afterwards.

        A cancel never decides what filled: whether it went through at once, after retries, or was
        answered ``Unknown order`` (the order filled or was cancelled meanwhile — e.g. it filled
        during the backoff after a rate limit), the order is read back (venue id, then client order
        id in open and closed orders) and returned with its fills. Raises
        :class:`~peaktrade.adapters.errors.OutcomeUnknown` when it cannot be read back,
        :class:`~peaktrade.adapters.errors.InvalidOrderError` when the venue holds no such order, and
        the cancel's own error when it failed without being answered ``Unknown order``.
        """
        if not order_id and not client_order_id:
            raise InvalidOrderError("cancel_order: give order_id or client_order_id", operation="cancel_order")
        venue_cid = kraken_cl_ord_id(client_order_id) if client_order_id else None
        params = {} if order_id else {"clientOrderId": venue_cid}
        self._private("CancelOrder", {"txid": order_id} if order_id else {"cl_ord_id": venue_cid})
        attempts = max(1, self.retry.max_attempts)
        outcome = "cancelled"
        for attempt in range(attempts):
            try:
                self._ex.cancel_order(order_id, symbol, dict(params))
                break
            except Exception as e:  # noqa: BLE001
                err = self._translate(e, "cancel_order")
            if isinstance(err, InvalidOrderError) and any(t in str(err) for t in _ORDER_GONE):
                outcome = "not open any more"  # filled, or cancelled by an earlier attempt: read it back
                break
            if not isinstance(err, RetryableError) or attempt + 1 >= attempts:
                raise err from None
            self._sleep(self.retry.delay(attempt, self._rand))
        ref = order_id or client_order_id
        try:
            order = self.fetch_order(order_id, symbol) if order_id else None
        except InvalidOrderError:
            order = None  # not known by this id: ask by client order id
        except ExchangeError as e:
            if not client_order_id:
                raise OutcomeUnknown(f"cancel_order: order {ref} {outcome}, but reading it back failed ({e}): "
                                     "its fills are unknown; reconcile", operation="cancel_order") from None
            order = None
        if order is None and client_order_id:
            try:
                order = self.find_order(client_order_id, symbol)
            except ExchangeError as e:
                raise OutcomeUnknown(f"cancel_order: order {ref} {outcome}, but reading it back failed ({e}): "
                                     "its fills are unknown; reconcile", operation="cancel_order") from None
        if order is None:
            raise InvalidOrderError(f"cancel_order: the venue holds no order {ref}", operation="cancel_order")
        if client_order_id:
            order = VenueOrder(**{**order.__dict__, "client_order_id": client_order_id})
        return order

    def cancel_all_orders_after(self, timeout: float) -> dict[str, Any]:
        """Arm the venue's dead-man switch: every open order of the account is cancelled ``timeout`` seconds
        from now unless this is called again first; ``timeout=0`` disarms it (Kraken ``CancelAllOrdersAfter``).

        Returns ``{"current_time", "trigger_time"}`` as the venue answered (``trigger_time`` ``"0"``: disarmed).
        Retried like a read (arming again is harmless). Cancels pass every kill-switch state.
        """
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= 86400:
            raise InvalidOrderError(f"cancel_all_orders_after: timeout={timeout!r} is invalid: expected 0..86400 "
                                    "seconds (0 disarms)", operation="cancel_all_orders_after")
        seconds = int(math.ceil(timeout))
        self._private("CancelAllOrdersAfter", {"timeout": seconds})
        raw = self._call("cancel_all_orders_after", lambda: self._ex.cancel_all_orders_after(seconds * 1000))
        res = (raw.get("result") if isinstance(raw, dict) and isinstance(raw.get("result"), dict) else raw) or {}
        return {"current_time": res.get("currentTime"), "trigger_time": res.get("triggerTime")}

    def cancel_all_orders(self) -> int:
        """Cancel every open order of the account now (Kraken ``CancelAll``); return how many the venue cancelled."""
        self._private("CancelAll")
        raw = self._call("cancel_all_orders", lambda: self._ex.privatePostCancelAll({}))
        res = raw.get("result") if isinstance(raw, dict) else None
        return int(_f((res or {}).get("count")) or 0)

    def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        self._private("OpenOrders")
        return [self._order(o) for o in self._call("fetch_open_orders", lambda: self._ex.fetch_open_orders(symbol))]

    def fetch_closed_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        self._private("ClosedOrders")
        return [self._order(o) for o in
                self._call("fetch_closed_orders", lambda: self._ex.fetch_closed_orders(symbol))]

    def fetch_order(self, order_id: str, symbol: str | None = None) -> VenueOrder:
        self._private("QueryOrders", {"txid": order_id})
        return self._order(self._call("fetch_order", lambda: self._ex.fetch_order(order_id, symbol)))

    def fetch_my_trades(self, symbol: str | None = None, since: int | None = None) -> list[VenueTrade]:
        self._private("TradesHistory")
        rows = self._call("fetch_my_trades", lambda: self._ex.fetch_my_trades(symbol, since))
        out = []
        for t in rows or []:
            fee = t.get("fee") or {}
            out.append(VenueTrade(str(t.get("id")), t.get("order"), str(t.get("symbol")), str(t.get("side")),
                                  _f(t.get("amount")) or 0.0, _f(t.get("price")) or 0.0,
                                  _f(fee.get("cost") if isinstance(fee, dict) else None) or 0.0, t.get("timestamp")))
        return out


__all__ = ["KRAKEN_API_URL", "KRAKEN_CAPABILITIES", "PUBLIC_DATA_RETRY", "KrakenClient", "RetryPolicy",
           "call_with_retry", "kraken_cl_ord_id"]
