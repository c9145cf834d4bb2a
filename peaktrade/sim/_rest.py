"""Kraken's REST methods over the simulated exchange: request parsing, auth, response building.

:class:`SimExchange` is the :class:`~peaktrade.sim._book.OrderBook` that speaks Kraken's protocol
(transport-free: :mod:`peaktrade.sim._server` carries it over HTTP). Each ``_pub_<Method>`` and
``_priv_<Method>`` parses its parameters the way Kraken does, asks the book, and formats the
answer as Kraken's JSON.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from peaktrade.sim._auth import (
    HISTORY_CALLS,
    OPEN_ORDER_LIMITS,
    REST_TIERS,
    TRADING_CALLS,
    KeyState,
    cancel_penalty,
    signature_ok,
)
from peaktrade.sim._book import KrakenError, Order, OrderBook, _fmt
from peaktrade.sim._credentials import key_label
from peaktrade.sim._faults import FaultPlan, Profile
from peaktrade.sim._market import ASSETS, PAIRS, Feed, resolve_pair

PUBLIC_METHODS = ("Time", "SystemStatus", "Assets", "AssetPairs", "Ticker", "OHLC", "Depth")
PRIVATE_METHODS = ("Balance", "BalanceEx", "AddOrder", "CancelOrder", "OpenOrders", "ClosedOrders",
                   "QueryOrders", "TradesHistory", "CancelAll", "CancelAllOrdersAfter")
#: Kraken's longest dead-man timeout (seconds).
MAX_DEADMAN_TIMEOUT = 86400
OHLC_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
PAGE = 50
_CL_ORD_RE = re.compile(r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
                        r"|[0-9a-fA-F]{32}|[\x21-\x7e]{1,18})$")
#: the highest limit price an order may carry (above it Kraken-style formatting would overflow: 1e308 * 10**d)
MAX_PRICE = 1e12
#: Kraken's nonce is an unsigned 64-bit integer
MAX_NONCE = 2**64 - 1
# ASCII only: Python's int()/float() also accept '²', '١٢', ' 1 ', '1_0' and 'nan'
_INT_RE = re.compile(r"-?[0-9]{1,20}")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class MalformedRequest(KrakenError):
    """A request the protocol cannot even read (body not a form or a flat JSON object, nonce not a
    number): answered HTTP 400 with the Kraken error string, and never applied."""


def ascii_int(raw: Any, error: str, *, lo: int = -(2**63), hi: int = 2**63 - 1) -> int:
    """Parse an ASCII decimal integer in [lo, hi]; else raise ``KrakenError(error)``."""
    s = str(raw)
    if isinstance(raw, bool) or not _INT_RE.fullmatch(s) or not lo <= int(s) <= hi:
        raise KrakenError(error)
    return int(s)


def ascii_float(raw: Any, error: str) -> float:
    """Parse a finite ASCII decimal number; else raise ``KrakenError(error)``."""
    s = str(raw)
    if isinstance(raw, bool) or not _FLOAT_RE.fullmatch(s) or not math.isfinite(float(s)):
        raise KrakenError(error)
    return float(s)


def _decimal(raw: Any) -> Decimal:
    """An ASCII decimal that stays finite as a float (Decimal() also takes '١', '1_0', '1e400')."""
    s = str(raw)
    if not _FLOAT_RE.fullmatch(s) or not math.isfinite(float(s)):
        raise InvalidOperation
    return Decimal(s)


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, (str, int)) and str(v).lower() in ("true", "1"))


class SimExchange(OrderBook):
    """A Kraken-protocol spot exchange in memory: replayed prices, balances, orders, fills.

    Parameters
    ----------
    feeds
        Pair id → :class:`Feed` (default: seeded synthetic 1m bars for every pair).
    keys
        API key → base64 secret.
    seed
        Seed of the synthetic bars (when ``feeds`` is not given), of order ids and of the book.
    speed
        Bars per wall second the simulated clock advances (0 freezes it; use :meth:`advance`).
    start
        Simulated start time (unix s). Default: the current wall-clock time when the bars cover
        it (the default synthetic bars do), else ``warmup`` bars after the first bar.
    balances
        Asset id → starting balance of every key's account (one shared account).
    spread_bps
        Full bid/ask spread around the replayed price, in basis points.
    tier
        Kraken verification tier of the rate counters: starter, intermediate or pro.
    faults
        A fault profile (see :func:`peaktrade.sim.parse_profile`).
    wall_clock
        Monotonic seconds (injectable for tests); drives the clock and the counters' decay.
    """

    def __init__(self, *, feeds: dict[str, Feed] | None = None, keys: dict[str, str] | None = None,
                 seed: int = 0, speed: float = 0.0, start: float | None = None,
                 balances: dict[str, float] | None = None, spread_bps: float = 2.0, tier: str = "starter",
                 faults: Profile | None = None, wall_clock: Callable[[], float] = time.monotonic,
                 warmup: int = 720) -> None:
        if tier not in REST_TIERS:
            raise ValueError(f"tier={tier!r} is invalid: expected one of {', '.join(REST_TIERS)}")
        super().__init__(feeds=feeds, seed=seed, speed=speed, start=start, balances=balances,
                         spread_bps=spread_bps, wall_clock=wall_clock, warmup=warmup)
        self.tier = tier
        self.keys: dict[str, KeyState] = {}
        for k, s in (keys or {}).items():
            self.add_key(k, s)
        self.faults = FaultPlan(faults)
        # the dead-man switch (CancelAllOrdersAfter): a real-time timer, account-wide like Kraken's
        self._deadman: threading.Timer | None = None
        self.deadman_trigger: float | None = None  # epoch seconds it fires at (None: disarmed)
        self.deadman_fired: list[dict[str, Any]] = []  # {"at": epoch s, "count": orders cancelled}

    # ----------------------------------------------------------------------------- keys
    def add_key(self, key: str, secret: str) -> None:
        """Register an API key with its base64 secret."""
        import base64
        import binascii

        try:
            base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("api secret is invalid: expected base64 (as Kraken issues it)") from None
        self.keys[key] = KeyState(secret, self.tier)

    # ----------------------------------------------------------------------------- protocol entry
    def handle_public(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Answer ``/0/public/<method>`` with Kraken's envelope."""
        with self.lock:
            try:
                if method not in PUBLIC_METHODS:
                    raise KrakenError("EGeneral:Unknown method")
                self.sync()
                return {"error": [], "result": getattr(self, f"_pub_{method}")(params)}
            except MalformedRequest:
                raise
            except KrakenError as e:
                return {"error": [e.message]}

    def handle_private(self, method: str, uri_path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        """Authenticate and answer ``/0/private/<method>`` with Kraken's envelope."""
        with self.lock:
            try:
                params = self.authenticate(method, uri_path, headers, body)
                if method not in PRIVATE_METHODS:
                    raise KrakenError("EGeneral:Unknown method")
                self.sync()
                return {"error": [], "result": getattr(self, f"_priv_{method}")(params, self._key)}
            except MalformedRequest:
                raise
            except KrakenError as e:
                return {"error": [e.message]}

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a public or private method in-process, without HTTP or signing; return the envelope.

        Private calls use an internal key (its own counters; no nonce check).
        """
        if method in PUBLIC_METHODS:
            return self.handle_public(method, {k: str(v) for k, v in params.items()})
        with self.lock:
            if not hasattr(self, "_inproc"):
                self._inproc = KeyState("", self.tier)
            try:
                if method not in PRIVATE_METHODS:
                    raise KrakenError("EGeneral:Unknown method")
                if method not in TRADING_CALLS and not self._inproc.rest.try_add(
                        2.0 if method in HISTORY_CALLS else 1.0, self.wall()):
                    raise KrakenError("EAPI:Rate limit exceeded")
                self.sync()
                p = {k: (str(v) if not isinstance(v, bool) else str(v).lower()) for k, v in params.items()}
                return {"error": [], "result": getattr(self, f"_priv_{method}")(p, self._inproc)}
            except KrakenError as e:
                return {"error": [e.message]}

    def authenticate(self, method: str, uri_path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        """Check key, signature, nonce and the REST counter; return the parsed body."""
        h = {k.lower(): v for k, v in headers.items()}
        key = h.get("api-key")
        if not key or key not in self.keys:
            raise KrakenError("EAPI:Invalid key")
        ks = self.keys[key]
        params = parse_body(body, h.get("content-type", ""))
        nonce = str(params.get("nonce", ""))
        try:
            value = ascii_int(nonce, "EAPI:Invalid nonce", lo=0, hi=MAX_NONCE)
        except KrakenError as e:  # missing, '²', '-1', '1e9', > 2**64 - 1: not a nonce at all
            raise MalformedRequest(e.message) from None
        if not signature_ok(uri_path, body, nonce, ks.secret, h.get("api-sign")):
            raise KrakenError("EAPI:Invalid signature")
        if value <= ks.last_nonce:
            raise KrakenError("EAPI:Invalid nonce")
        ks.last_nonce = value
        if method not in TRADING_CALLS:
            if not ks.rest.try_add(2.0 if method in HISTORY_CALLS else 1.0, self.wall()):
                raise KrakenError("EAPI:Rate limit exceeded")
        self._key = ks
        return params

    # ----------------------------------------------------------------------------- public methods
    def _pairs_param(self, params: dict[str, Any], *, required: bool) -> list[str]:
        raw = params.get("pair")
        if not raw:
            if required:
                raise KrakenError("EGeneral:Invalid arguments")
            return list(PAIRS)
        out = []
        for name in str(raw).split(","):
            pid = resolve_pair(name.strip())
            if pid is None:
                raise KrakenError("EQuery:Unknown asset pair")
            out.append(pid)
        return out

    def _pub_Time(self, params):
        t = int(self.now())
        return {"unixtime": t,
                "rfc1123": datetime.fromtimestamp(t, UTC).strftime("%a, %d %b %y %H:%M:%S +0000")}

    def _pub_SystemStatus(self, params):
        ts = datetime.fromtimestamp(int(self.now()), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"status": self.status, "timestamp": ts}

    def _pub_Assets(self, params):
        want = params.get("asset")
        if not want:
            return {k: dict(v) for k, v in ASSETS.items()}
        out = {}
        for name in str(want).split(","):
            hit = [k for k, v in ASSETS.items() if name in (k, v["altname"])]
            if not hit:
                raise KrakenError("EQuery:Unknown asset")
            out[hit[0]] = dict(ASSETS[hit[0]])
        return out

    def _pub_AssetPairs(self, params):
        return {pid: json.loads(json.dumps(PAIRS[pid])) for pid in self._pairs_param(params, required=False)}

    def _pub_Ticker(self, params):
        now = self.now()
        midnight = now // 86_400 * 86_400
        out = {}
        for pid in self._pairs_param(params, required=False):
            d = PAIRS[pid]["pair_decimals"]
            bid, ask, last = self.quote(pid)
            f = self.feeds[pid]
            today, day = f.stats_since(now, midnight), f.stats_since(now, now - 86_400)
            px = lambda x, d=d: _fmt(x, d)  # noqa: E731 — used within this iteration only
            out[pid] = {
                "a": [px(ask), "1", "1.000"], "b": [px(bid), "1", "1.000"], "c": [px(last), "0.00100000"],
                "v": [f"{today['v']:.8f}", f"{day['v']:.8f}"], "p": [px(today["p"]), px(day["p"])],
                "t": [today["t"], day["t"]], "l": [px(today["l"]), px(day["l"])],
                "h": [px(today["h"]), px(day["h"])], "o": px(today["o"]),
            }
        return out

    def _pub_OHLC(self, params):
        pid = self._pairs_param(params, required=True)[0]
        minutes = ascii_int(params.get("interval", 1), "EGeneral:Invalid arguments")
        if minutes not in OHLC_INTERVALS:
            raise KrakenError("EGeneral:Invalid arguments")
        f = self.feeds[pid]
        if (minutes * 60) % f.interval:
            raise KrakenError("EGeneral:Invalid arguments")  # finer than the replayed bars
        since = params.get("since")
        since = int(ascii_float(since, "EGeneral:Invalid arguments")) if since not in (None, "") else None
        rows, last = f.ohlc(self.now(), minutes * 60, since)
        d = PAIRS[pid]["pair_decimals"]
        out = [[r[0], _fmt(r[1], d), _fmt(r[2], d), _fmt(r[3], d), _fmt(r[4], d), _fmt(r[5], d),
                f"{r[6]:.8f}", r[7]] for r in rows]
        return {pid: out, "last": last}

    def _pub_Depth(self, params):
        pid = self._pairs_param(params, required=True)[0]
        count = ascii_int(params.get("count", 100), "EGeneral:Invalid arguments")
        count = min(max(count, 1), 500)
        bid, ask, _ = self.quote(pid)
        d = PAIRS[pid]["pair_decimals"]
        tick = 10.0**-d
        ts = int(self.now())
        r = random.Random(f"{self.book_seed}:{pid}:{ts}")
        asks, bids = [], []
        pa, pb = ask, bid
        for _ in range(count):
            asks.append([_fmt(pa, d), f"{r.uniform(0.01, 3.0):.3f}", ts - r.randint(0, 60)])
            bids.append([_fmt(pb, d), f"{r.uniform(0.01, 3.0):.3f}", ts - r.randint(0, 60)])
            pa += tick * r.randint(1, 5)
            pb -= tick * r.randint(1, 5)
        return {pid: {"asks": asks, "bids": bids}}

    # ----------------------------------------------------------------------------- private methods
    def _priv_Balance(self, params, ks):
        return {a: _fmt(v, ASSETS[a]["decimals"]) for a, v in self.balances.items() if a in ASSETS}

    def _priv_BalanceEx(self, params, ks):
        holds = self.holds()
        return {a: {"balance": _fmt(v, ASSETS[a]["decimals"]),
                    "hold_trade": _fmt(holds.get(a, 0.0), ASSETS[a]["decimals"])}
                for a, v in self.balances.items() if a in ASSETS}

    def _priv_AddOrder(self, params, ks):
        pid = resolve_pair(str(params.get("pair", "")))
        if pid is None:
            if not params.get("pair"):
                raise KrakenError("EGeneral:Invalid arguments:pair")
            raise KrakenError("EQuery:Unknown asset pair")
        spec = PAIRS[pid]
        counter = ks.trading_counter(pid)
        if not counter.try_add(1.0, self.wall()):  # "+1 on receipt, even if validation fails"
            raise KrakenError("EOrder:Rate limit exceeded")
        side = params.get("type")
        if side not in ("buy", "sell"):
            raise KrakenError("EGeneral:Invalid arguments:type")
        ordertype = params.get("ordertype")
        if ordertype not in ("market", "limit"):
            raise KrakenError("EGeneral:Invalid arguments:ordertype")
        try:
            dvol = _decimal(params.get("volume", ""))
            if dvol <= 0 or -dvol.as_tuple().exponent > spec["lot_decimals"]:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            raise KrakenError("EGeneral:Invalid arguments:volume") from None
        vol = float(dvol)
        price = None
        if ordertype == "limit":
            raw = str(params.get("price", ""))
            try:
                dprice = _decimal(raw)
                if dprice <= 0 or dprice > MAX_PRICE or raw[:1] in "+-#" or raw.endswith("%"):
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                raise KrakenError("EGeneral:Invalid arguments:price") from None
            if -dprice.as_tuple().exponent > spec["pair_decimals"]:
                raise KrakenError(f"EOrder:Invalid price:{spec['altname']} price can only be specified up to "
                                  f"{spec['pair_decimals']} decimals.")
            price = float(dprice)
        oflags = tuple(x for x in str(params.get("oflags", "")).split(",") if x)
        if (any(x not in ("post", "fcib", "fciq", "nompp") for x in oflags)
                or ("post" in oflags and ordertype != "limit")):
            raise KrakenError("EGeneral:Invalid arguments:oflags")
        tif = str(params.get("timeinforce", "GTC")).upper()
        if tif not in ("GTC", "IOC"):
            raise KrakenError("EGeneral:Invalid arguments:timeinforce")
        userref = params.get("userref")
        if userref is not None:
            userref = ascii_int(userref, "EGeneral:Invalid arguments:userref", lo=-(2**31), hi=2**31 - 1)
        cl = params.get("cl_ord_id")
        if cl is not None:
            cl = str(cl)
            if userref is not None or not _CL_ORD_RE.match(cl):
                raise KrakenError("EGeneral:Invalid arguments:cl_ord_id")
        bid, ask = self.check_order(pid, side, vol, price, oflags)
        descr = {"order": f"{side} {vol:.8f} {spec['altname']} @ "
                          + (f"limit {_fmt(price, spec['pair_decimals'])}" if price is not None else "market")}
        if _truthy(params.get("validate")):
            return {"descr": descr}  # validated only: nothing placed, no txid
        o = self.place(pid, side, ordertype, vol, price, bid=bid, ask=ask, oflags=oflags, tif=tif, userref=userref,
                       cl_ord_id=cl, max_open=OPEN_ORDER_LIMITS[ks.tier])
        return {"descr": descr, "txid": [o.txid]}

    def _cancel_open(self) -> int:
        hits = [o for o in self.orders.values() if o.status == "open"]
        self.cancel(hits)
        return len(hits)

    def _priv_CancelAll(self, params, ks):
        return {"count": self._cancel_open()}

    def _priv_CancelAllOrdersAfter(self, params, ks):
        """Kraken's dead-man switch: cancel every open order ``timeout`` seconds from now unless re-armed;
        ``timeout=0`` disarms. The timer runs in real (wall) time, whatever the market clock's speed."""
        raw = params.get("timeout")
        if raw in (None, ""):
            raise KrakenError("EGeneral:Invalid arguments:timeout")
        timeout = ascii_int(raw, "EGeneral:Invalid arguments:timeout", lo=0, hi=MAX_DEADMAN_TIMEOUT)
        if self._deadman is not None:
            self._deadman.cancel()
            self._deadman = None
        now = time.time()
        if timeout == 0:
            self.deadman_trigger = None
            return {"currentTime": _iso(now), "triggerTime": "0"}
        self.deadman_trigger = now + timeout
        timer = threading.Timer(timeout, self._deadman_fire)
        timer.daemon = True
        self._deadman = timer
        timer.start()
        return {"currentTime": _iso(now), "triggerTime": _iso(self.deadman_trigger)}

    def _deadman_fire(self) -> None:
        with self.lock:
            if self._deadman is None or threading.current_thread() is not self._deadman:
                return  # re-armed or disarmed meanwhile
            self._deadman, self.deadman_trigger = None, None
            self.sync()
            self.deadman_fired.append({"at": time.time(), "count": self._cancel_open()})

    def _priv_CancelOrder(self, params, ks):
        txid, cl = params.get("txid"), params.get("cl_ord_id")
        if txid in (None, "") and cl in (None, ""):
            raise KrakenError("EGeneral:Invalid arguments:txid")
        if cl not in (None, ""):
            hits = [o for o in self.orders.values() if o.cl_ord_id == str(cl) and o.status == "open"]
        elif _INT_RE.fullmatch(str(txid)):
            hits = [o for o in self.orders.values() if o.userref == int(txid) and o.status == "open"]
        else:
            o = self.orders.get(str(txid))
            hits = [o] if o is not None and o.status == "open" else []
        if not hits:
            raise KrakenError("EOrder:Unknown order")
        now_wall = self.wall()
        for o in hits:
            if not ks.trading_counter(o.pair).try_add(cancel_penalty(now_wall - o.opened_wall), now_wall):
                raise KrakenError("EOrder:Rate limit exceeded")
        self.cancel(hits)
        return {"count": len(hits)}

    def order_json(self, o: Order, *, trades: bool = False) -> dict[str, Any]:
        """Kraken's order object for ``o``."""
        spec = PAIRS[o.pair]
        d, cd = spec["pair_decimals"], spec["cost_decimals"]
        px = _fmt(o.price, d) if o.price is not None else "0"
        descr_order = (f"{o.side} {o.vol:.8f} {spec['altname']} @ "
                       + (f"limit {px}" if o.price is not None else "market"))
        flags = list(o.oflags) + ([] if {"fcib", "fciq"} & set(o.oflags) else ["fciq"])
        out = {
            "refid": None, "userref": o.userref if o.userref is not None else 0, "status": o.status,
            "opentm": o.opentm, "starttm": 0, "expiretm": 0,
            "descr": {"pair": spec["altname"], "type": o.side, "ordertype": o.ordertype, "price": px,
                      "price2": "0", "leverage": "none", "order": descr_order, "close": ""},
            "vol": f"{o.vol:.8f}", "vol_exec": f"{o.vol_exec:.8f}", "cost": _fmt(o.cost, cd),
            "fee": _fmt(o.fee, cd), "price": _fmt(o.avg_price, d) if o.vol_exec else "0.00000",
            "stopprice": "0.00000", "limitprice": "0.00000", "misc": "", "oflags": ",".join(flags),
        }
        if o.cl_ord_id is not None:
            out["cl_ord_id"] = o.cl_ord_id
        if o.status != "open":
            out["closetm"], out["reason"] = o.closetm, o.reason
        if trades and o.trades:
            out["trades"] = list(o.trades)
        return out

    @staticmethod
    def _filter_ref(orders, params):
        if params.get("userref") not in (None, ""):
            ref = ascii_int(params["userref"], "EGeneral:Invalid arguments:userref")
            orders = [o for o in orders if o.userref == ref]
        if params.get("cl_ord_id") not in (None, ""):
            orders = [o for o in orders if o.cl_ord_id == str(params["cl_ord_id"])]
        return orders

    def _priv_OpenOrders(self, params, ks):
        orders = self._filter_ref([o for o in self.orders.values() if o.status == "open"], params)
        tr = _truthy(params.get("trades"))
        return {"open": {o.txid: self.order_json(o, trades=tr) for o in sorted(orders, key=lambda o: -o.opentm)}}

    def _bound(self, raw, default):
        if raw in (None, ""):
            return default
        raw = str(raw)
        if raw in self.orders:
            return self.orders[raw].opentm
        if raw in self.trades:
            return self.trades[raw]["time"]
        return ascii_float(raw, "EGeneral:Invalid arguments")

    def _page(self, items, params):
        ofs = ascii_int(params.get("ofs", 0) or 0, "EGeneral:Invalid arguments:ofs", lo=0)
        return items[ofs:ofs + PAGE]

    def _priv_ClosedOrders(self, params, ks):
        start, end = self._bound(params.get("start"), -math.inf), self._bound(params.get("end"), math.inf)
        which = params.get("closetime", "both")
        def inside(o):
            ts = {"open": [o.opentm], "close": [o.closetm]}.get(which, [o.opentm, o.closetm])
            return any(start < t <= end for t in ts)
        closed = [o for o in self.orders.values() if o.status != "open" and inside(o)]
        closed = self._filter_ref(closed, params)
        closed.sort(key=lambda o: (o.closetm, o.opentm), reverse=True)
        tr = _truthy(params.get("trades"))
        return {"closed": {o.txid: self.order_json(o, trades=tr) for o in self._page(closed, params)},
                "count": len(closed)}

    def _priv_QueryOrders(self, params, ks):
        ids = [x.strip() for x in str(params.get("txid", "")).split(",") if x.strip()]
        if not ids or len(ids) > 50:
            raise KrakenError("EGeneral:Invalid arguments:txid")
        out = {}
        tr = _truthy(params.get("trades"))
        for i in ids:
            if i not in self.orders:
                raise KrakenError("EOrder:Invalid order")
            out[i] = self.order_json(self.orders[i], trades=tr)
        return out

    def _priv_TradesHistory(self, params, ks):
        start, end = self._bound(params.get("start"), -math.inf), self._bound(params.get("end"), math.inf)
        items = [(k, v) for k, v in self.trades.items() if start < v["time"] <= end]
        items.sort(key=lambda kv: (kv[1]["time"], kv[1]["trade_id"]), reverse=True)
        return {"trades": dict(self._page(items, params)), "count": len(items)}

    # ----------------------------------------------------------------------------- admin
    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot: time, prices, balances, holds, orders, trades, counters, faults."""
        with self.lock:
            self.sync()
            now_wall = self.wall()
            return {
                "time": self.now(), "speed": self.speed, "status": self.status,
                "prices": {p: dict(zip(("bid", "ask", "last"), self.quote(p))) for p in PAIRS},
                "balances": dict(self.balances), "holds": self.holds(),
                "orders": {k: self.order_json(o, trades=True) | {"pair_id": o.pair} for k, o in self.orders.items()},
                "trades": dict(self.trades),
                "counters": {key_label(k): {"rest": ks.rest.level(now_wall), "last_nonce": ks.last_nonce,
                                 "trading": {p: c.level(now_wall) for p, c in ks.trading.items()}}
                             for k, ks in self.keys.items()},  # keyed by key_label: never the key
                "faults": {"profile": self.faults.profile.name, "queued": [f.to_dict() for f in self.faults.queue],
                           "injected": list(self.faults.injected)},
            }


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """Parse a form-encoded or JSON request body into a dict (Kraken accepts both).

    A JSON body must be one flat object (Kraken's parameters are scalars); anything else, including
    JSON nested too deeply for the parser, raises :class:`MalformedRequest`.
    """
    if not body:
        return {}
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type.lower():
        try:
            out = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: '[[[[...' deeper than the parser goes
            raise MalformedRequest("EGeneral:Invalid arguments") from None
        if not isinstance(out, dict) or any(isinstance(v, (dict, list)) for v in out.values()):
            raise MalformedRequest("EGeneral:Invalid arguments")
        return out
    return dict(parse_qsl(text, keep_blank_values=True))
