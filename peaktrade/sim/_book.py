"""The simulated exchange's state: clock, quotes, balances, orders, fills and matching (no protocol).

:class:`OrderBook` knows nothing of HTTP, signing or request parsing: the Kraken REST methods in
:mod:`peaktrade.sim._rest` parse a request, then place, cancel and read orders here. Errors an
order meets at the exchange (market status, minimums, funds) are Kraken's strings, raised as
:class:`KrakenError`, because that is how the simulated venue answers them.
"""

from __future__ import annotations

import math
import numbers
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from peaktrade.sim._market import ASSETS, PAIRS, Feed, round_to, synthetic_feeds

_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
DEFAULT_BALANCES = {"ZUSD": 100_000.0, "XXBT": 1.0, "XETH": 10.0}
#: bounds of the admin inputs: beyond them a value is a mistake (or an attack), not a request
MAX_ADVANCE_BARS = 1e9
MAX_ADVANCE_SECONDS = 1e12
MAX_SPEED = 1e6
MAX_BALANCE = 1e12
STATUSES = ("online", "maintenance", "cancel_only", "post_only")


class KrakenError(Exception):
    """A Kraken error string, answered as HTTP 200 ``{"error": [message]}``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_number(name: str, value: Any, *, lo: float, hi: float, what: str, integer: bool = False) -> float:
    """Return ``value`` as a float when it is a real number in [lo, hi] (not a bool, not a string;
    NaN fails the comparison, ±inf the range); else raise ValueError naming the field and what is
    expected."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and lo <= value <= hi
    if not ok or (integer and value != int(value)):
        try:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        except ValueError:  # an int of more than 4300 digits has no repr
            shown = "<a huge integer>"
        raise ValueError(f"{name}={shown} is invalid: expected {what} in [{lo:g}, {hi:g}]")
    return float(value)



@dataclass
class Order:
    txid: str
    pair: str
    side: str
    ordertype: str
    vol: float
    price: float | None  # limit price
    opentm: float
    opened_wall: float
    userref: int | None = None
    cl_ord_id: str | None = None
    oflags: tuple[str, ...] = ()
    status: str = "open"
    vol_exec: float = 0.0
    cost: float = 0.0
    fee: float = 0.0
    avg_price: float = 0.0
    closetm: float | None = None
    reason: str | None = None
    trades: list[str] = field(default_factory=list)


def _fmt(x: float, d: int) -> str:
    return f"{round_to(x, d):.{d}f}"


class OrderBook:
    """A spot exchange's state in memory: replayed prices, balances, orders, fills.

    Parameters
    ----------
    feeds
        Pair id → :class:`Feed` (default: seeded synthetic 1m bars for every pair).
    seed
        Seed of the synthetic bars (when ``feeds`` is not given), of order ids and of the book.
    speed
        Bars per wall second the simulated clock advances (0 freezes it; use :meth:`advance`).
    start
        Simulated start time (unix s). Default: the current wall-clock time when the bars cover
        it (the default synthetic bars do), else ``warmup`` bars after the first bar.
    balances
        Asset id → starting balance of the account (one shared account).
    spread_bps
        Full bid/ask spread around the replayed price, in basis points.
    wall_clock
        Monotonic seconds (injectable for tests); drives the clock.
    """

    def __init__(self, *, feeds: dict[str, Feed] | None = None, seed: int = 0, speed: float = 0.0,
                 start: float | None = None, balances: dict[str, float] | None = None, spread_bps: float = 2.0,
                 wall_clock: Callable[[], float] = time.monotonic, warmup: int = 720) -> None:
        speed = check_number("speed", speed, lo=0, hi=MAX_SPEED, what="bars per wall second, a number")
        self.lock = threading.RLock()
        self.feeds = feeds or synthetic_feeds(seed=seed)
        unknown = set(self.feeds) - set(PAIRS)
        if unknown:
            raise ValueError(f"feeds has unknown pair(s) {sorted(unknown)}: expected ids of {sorted(PAIRS)}")
        missing = set(PAIRS) - set(self.feeds)
        if missing:  # every listed pair needs prices: synthesize the missing ones on the same grid
            ref = next(iter(self.feeds.values()))
            syn = synthetic_feeds(seed=seed, n=len(ref.t), interval=ref.interval,
                                  start=pd.Timestamp(int(ref.t[0]), unit="s", tz="UTC"))
            for pid in missing:
                self.feeds[pid] = syn[pid]
        self.wall = wall_clock
        self.spread_bps = float(spread_bps)
        self.rng = random.Random(seed)
        self.book_seed = seed
        self.interval = min(f.interval for f in self.feeds.values())
        first = min(float(f.t[0]) for f in self.feeds.values())
        self._end = min(f.end for f in self.feeds.values())
        if start is None:  # "now" when the data covers it (live-looking timestamps), else after the warmup
            start = first + warmup * self.interval
            wall_now = time.time()
            if start <= wall_now <= self._end:
                start = float(int(wall_now))
        self._anchor_sim = min(start, self._end)
        self._anchor_wall = self.wall()
        self.speed = float(speed)
        self.balances = {a: 0.0 for a in ASSETS}
        self.set_balances(balances or DEFAULT_BALANCES)
        self.orders: dict[str, Order] = {}
        self.trades: dict[str, dict[str, Any]] = {}
        self._trade_seq = 0
        self._synced_at = self.now()
        self.status = "online"

    # ----------------------------------------------------------------------------- clock, prices
    def now(self) -> float:
        """Simulated time (unix seconds)."""
        t = self._anchor_sim + (self.wall() - self._anchor_wall) * self.speed * self.interval
        return min(t, self._end)

    def set_speed(self, speed: float) -> None:
        """Change the clock's speed (bars per wall second) from now on."""
        speed = check_number("speed", speed, lo=0, hi=MAX_SPEED, what="bars per wall second, a number")
        with self.lock:
            self._anchor_sim, self._anchor_wall = self.now(), self.wall()
            self.speed = speed

    def advance(self, *, bars: float = 0.0, seconds: float = 0.0) -> float:
        """Move the simulated clock forward, fill crossed limit orders, return the new time.

        The clock stops at the end of the data; it never moves back (bars and seconds >= 0).
        """
        # validated before anything moves: one NaN here would make the clock NaN for good
        bars = check_number("bars", bars, lo=0, hi=MAX_ADVANCE_BARS, what="a number of bars")
        seconds = check_number("seconds", seconds, lo=0, hi=MAX_ADVANCE_SECONDS, what="a number of seconds")
        with self.lock:
            self._anchor_sim = min(self.now() + bars * self.interval + seconds, self._end)
            self._anchor_wall = self.wall()
            self.sync()
            return self.now()

    def set_status(self, status: str) -> None:
        """Set the market status Kraken reports (SystemStatus) and enforces on AddOrder."""
        if status not in STATUSES:
            raise ValueError(f"status={str(status)[:40]!r} is invalid: expected one of {', '.join(STATUSES)}")
        with self.lock:
            self.status = status

    def set_balances(self, balances: dict[str, Any]) -> None:
        """Set the balance of each given asset (all checked before any is set)."""
        if not isinstance(balances, dict):
            raise ValueError("balances is invalid: expected an object of ASSET: AMOUNT")
        for a, v in balances.items():
            if a not in ASSETS:
                raise ValueError(f"balance asset {str(a)[:40]!r} is invalid: expected one of {', '.join(ASSETS)}")
            check_number(f"balance {a}", v, lo=0, hi=MAX_BALANCE, what="an amount")
        with self.lock:
            self.balances.update({a: float(v) for a, v in balances.items()})

    def quote(self, pair: str) -> tuple[float, float, float]:
        """Return (bid, ask, last) of ``pair`` now: the replayed price ± half the spread, on ticks."""
        return self._quote_at(pair, self.feeds[pair].price_at(self.now()))

    def _quote_at(self, pair: str, p: float) -> tuple[float, float, float]:
        d = PAIRS[pair]["pair_decimals"]
        tick = 10.0**-d
        half = p * self.spread_bps / 20_000.0
        bid = math.floor((p - half) / tick + 1e-9) * tick
        ask = math.ceil((p + half) / tick - 1e-9) * tick
        if ask <= bid:
            ask = bid + tick
        return round(bid, d), round(ask, d), round(p, d)

    # ----------------------------------------------------------------------------- matching
    def sync(self) -> None:
        """Fill resting limit orders crossed by the price path since the last sync."""
        now = self.now()
        t0, self._synced_at = self._synced_at, now
        for o in sorted((o for o in self.orders.values() if o.status == "open"), key=lambda o: o.opentm):
            lo, hi = self.feeds[o.pair].range_between(max(t0, o.opentm), now)
            ask_lo = self._quote_at(o.pair, lo)[1]
            bid_hi = self._quote_at(o.pair, hi)[0]
            if (o.side == "buy" and ask_lo <= o.price) or (o.side == "sell" and bid_hi >= o.price):
                self._fill(o, o.price, maker=True)

    def _fill(self, o: Order, price: float, *, maker: bool) -> None:
        spec = PAIRS[o.pair]
        base, quote = spec["base"], spec["quote"]
        qd = ASSETS[quote]["decimals"]
        vol = o.vol - o.vol_exec
        fee_pct = (spec["fees_maker"] if maker else spec["fees"])[0][1]
        cost = round_to(price * vol, qd)
        fee = round_to(cost * fee_pct / 100.0, qd)
        if o.side == "buy":
            self.balances[quote] = round_to(self.balances[quote] - cost - fee, qd)
            self.balances[base] = round_to(self.balances[base] + vol, ASSETS[base]["decimals"])
        else:
            self.balances[base] = round_to(self.balances[base] - vol, ASSETS[base]["decimals"])
            self.balances[quote] = round_to(self.balances[quote] + cost - fee, qd)
        now = self.now()
        self._trade_seq += 1
        tid = self._new_id("T")
        self.trades[tid] = {
            "ordertxid": o.txid, "postxid": self._new_id("T"), "pair": o.pair, "time": round(now, 4),
            "type": o.side, "ordertype": o.ordertype, "price": _fmt(price, spec["pair_decimals"]),
            "cost": _fmt(cost, spec["cost_decimals"]), "fee": _fmt(fee, spec["cost_decimals"]),
            "vol": _fmt(vol, spec["lot_decimals"]), "margin": "0.00000", "leverage": "0", "misc": "",
            "trade_id": self._trade_seq, "maker": maker,
        }
        o.vol_exec, o.cost, o.fee = o.vol, o.cost + cost, o.fee + fee
        o.avg_price = o.cost / o.vol_exec if o.vol_exec else 0.0
        o.status, o.closetm = "closed", round(now, 4)
        o.trades.append(tid)

    def _new_id(self, prefix: str) -> str:
        c = lambda n: "".join(self.rng.choice(_ID_CHARS) for _ in range(n))  # noqa: E731
        return f"{prefix}{c(5)}-{c(5)}-{c(6)}"

    def holds(self) -> dict[str, float]:
        """Amount of each asset held by open orders (buys: cost + maker fee; sells: volume)."""
        out = {a: 0.0 for a in self.balances}
        for o in self.orders.values():
            if o.status != "open":
                continue
            spec = PAIRS[o.pair]
            rem = o.vol - o.vol_exec
            if o.side == "buy":
                out[spec["quote"]] += rem * o.price * (1 + spec["fees_maker"][0][1] / 100.0)
            else:
                out[spec["base"]] += rem
        return {a: round_to(v, ASSETS.get(a, {"decimals": 10})["decimals"]) for a, v in out.items()}

    # ----------------------------------------------------------------------------- orders
    def check_order(self, pair: str, side: str, vol: float, price: float | None,
                    oflags: tuple[str, ...]) -> tuple[float, float]:
        """Check an order against the market (status, minimum volume and cost) at the current quote;
        return that quote's (bid, ask), at which :meth:`place` then places it."""
        spec = PAIRS[pair]
        bid, ask, _ = self.quote(pair)
        if self.status == "maintenance":
            raise KrakenError("EService:Unavailable")
        if self.status == "cancel_only" or (self.status == "post_only" and "post" not in oflags):
            raise KrakenError(f"EService:Market in {self.status} mode")
        if vol < float(spec["ordermin"]) - 1e-12:
            raise KrakenError("EOrder:Order minimum not met")
        ref_price = price if price is not None else (ask if side == "buy" else bid)
        if vol * ref_price < float(spec["costmin"]) - 1e-12:
            raise KrakenError("EOrder:Cost minimum not met")
        return bid, ask

    def place(self, pair: str, side: str, ordertype: str, vol: float, price: float | None, *, bid: float,
              ask: float, oflags: tuple[str, ...] = (), tif: str = "GTC", userref: int | None = None,
              cl_ord_id: str | None = None, max_open: int) -> Order:
        """Place an order checked by :meth:`check_order` at its quote (``bid``, ``ask``) and match it.

        Refused: a client order id that an open order holds, a pair with ``max_open`` open orders,
        an order beyond the funds not held by open orders. A market order or a crossing limit order
        fills at once (taker) unless it is post-only (then cancelled); an IOC that does not cross
        is cancelled; any other limit order rests until the price path crosses it (:meth:`sync`).
        """
        spec = PAIRS[pair]
        cl = cl_ord_id
        if cl is not None and any(o.cl_ord_id == cl and o.status == "open" for o in self.orders.values()):
            raise KrakenError("EOrder:Duplicate order")
        if sum(1 for o in self.orders.values() if o.pair == pair and o.status == "open") >= max_open:
            raise KrakenError("EOrder:Orders limit exceeded")
        # funds: what this order could take at most, against what is not held already
        holds = self.holds()
        if side == "buy":
            need = vol * (price if price is not None and price < ask else ask) * (1 + spec["fees"][0][1] / 100.0)
            free = self.balances[spec["quote"]] - holds.get(spec["quote"], 0.0)
        else:
            need, free = vol, self.balances[spec["base"]] - holds.get(spec["base"], 0.0)
        if need > free + 1e-9:
            raise KrakenError("EOrder:Insufficient funds")
        o = Order(self._new_id("O"), pair, side, ordertype, vol, price, round(self.now(), 4), self.wall(),
                  userref, cl, oflags)
        self.orders[o.txid] = o
        crosses = ordertype == "market" or (side == "buy" and price >= ask) or (side == "sell" and price <= bid)
        if crosses and "post" in oflags:
            o.status, o.closetm, o.reason = "canceled", o.opentm, "Post only order"
        elif crosses:
            self._fill(o, ask if side == "buy" else bid, maker=False)
        elif tif == "IOC":
            o.status, o.closetm, o.reason = "canceled", o.opentm, "Unfilled IOC"
        return o

    def cancel(self, orders: list[Order]) -> None:
        """Cancel open ``orders`` at the user's request."""
        for o in orders:
            o.status, o.closetm, o.reason = "canceled", round(self.now(), 4), "User requested"
