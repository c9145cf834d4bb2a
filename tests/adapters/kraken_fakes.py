"""Fakes for the Kraken adapter tests: an in-memory ccxt-like exchange with fault injection, and a
fake HTTP transport for a real ``ccxt.kraken`` that records every request it is asked to send."""

from __future__ import annotations

import itertools
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ccxt


class FakeCcxtKraken:
    """Enough of ``ccxt.kraken`` for the adapter: one market, market orders filled at ``price``.

    ``faults[method]`` is a list of exceptions raised (one per call) before the call runs;
    ``accept_then_fail`` is a list of exceptions raised by create_order *after* the order was
    accepted (a timeout after the venue took it). ``ignore_cl_ord_id_filter`` makes queries return
    every order, so the adapter must filter by client order id itself.
    """

    def __init__(self, *, price: float = 100.0, fee_rate: float = 0.001, cash: float = 10_000.0,
                 ignore_cl_ord_id_filter: bool = False) -> None:
        self.price = price
        self.fee_rate = fee_rate
        self.balances = {"USD": cash, "BTC": 0.0}
        self.orders: dict[str, dict[str, Any]] = {}
        self.faults: dict[str, list[BaseException]] = {}
        self.accept_then_fail: list[BaseException] = []
        self.calls: list[tuple[str, tuple, dict]] = []
        self.ignore_filter = ignore_cl_ord_id_filter
        self._ids = itertools.count(1)
        self.now_ms = 1_700_000_000_000
        self.bars: list[list[float]] = []

    def _enter(self, method: str, *args: Any, **kw: Any) -> None:
        self.calls.append((method, args, kw))
        queue = self.faults.get(method)
        if queue:
            raise queue.pop(0)

    def count(self, method: str) -> int:
        return sum(1 for c in self.calls if c[0] == method)

    # public
    def load_markets(self, reload: bool = False) -> dict[str, Any]:
        self._enter("load_markets")
        return {"BTC/USD": {"id": "XXBTZUSD", "symbol": "BTC/USD", "base": "BTC", "quote": "USD", "active": True,
                            "limits": {"amount": {"min": 0.0001}, "cost": {"min": 0.5}},
                            "precision": {"price": 0.1, "amount": 1e-8}, "maker": 0.0016, "taker": 0.0026}}

    def fetch_ohlcv(self, symbol, timeframe="1m", since=None, limit=None, params=None):
        self._enter("fetch_ohlcv")
        return [list(b) for b in self.bars]

    def fetch_ticker(self, symbol):
        self._enter("fetch_ticker")
        return {"symbol": symbol, "timestamp": self.now_ms, "bid": self.price - 0.5, "ask": self.price + 0.5,
                "last": self.price}

    def fetch_order_book(self, symbol, limit=None):
        self._enter("fetch_order_book")
        return {"bids": [[self.price - 0.5, 1.0]], "asks": [[self.price + 0.5, 2.0]], "timestamp": self.now_ms}

    def milliseconds(self) -> int:
        return self.now_ms

    def fetch_time(self):
        self._enter("fetch_time")
        return self.now_ms

    def fetch_status(self):
        self._enter("fetch_status")
        return {"status": "ok", "updated": None, "eta": None, "url": None}

    # private
    def fetch_balance(self):
        self._enter("fetch_balance")
        return {"total": dict(self.balances), "free": dict(self.balances)}

    def create_order(self, symbol, type, side, amount, price=None, params=None):
        params = dict(params or {})
        self._enter("create_order", symbol, type, side, amount, price, params=params)
        if params.get("validate") in (True, "true"):
            return {"id": None, "clientOrderId": None, "symbol": symbol, "side": side, "type": type,
                    "amount": amount, "info": {"descr": {"order": f"{side} {amount:.8f} XBTUSD @ {type}"}}}
        cid = params.get("clientOrderId")
        if cid is not None and any(o["clientOrderId"] == cid and o["status"] == "open" for o in self.orders.values()):
            raise ccxt.InvalidOrder("kraken EOrder:Duplicate cl_ord_id")
        oid = f"O{next(self._ids):05d}-FAKE"
        px = self.price
        fee = amount * px * self.fee_rate
        if side == "buy":
            self.balances["USD"] -= amount * px + fee
            self.balances["BTC"] += amount
        else:
            self.balances["USD"] += amount * px - fee
            self.balances["BTC"] -= amount
        o = {"id": oid, "clientOrderId": cid, "symbol": symbol, "side": side, "type": type, "amount": amount,
             "price": px, "status": "closed", "filled": amount, "average": px, "fee": {"cost": fee},
             "timestamp": self.now_ms}
        self.orders[oid] = o
        if self.accept_then_fail:
            raise self.accept_then_fail.pop(0)
        return {"id": oid, "clientOrderId": None, "symbol": symbol, "side": side, "type": type, "amount": amount,
                "info": {"descr": {"order": f"{side} {amount} XBTUSD @ {type}"}, "txid": [oid]}}

    def _query(self, method: str, status: str, params: dict | None) -> list[dict]:
        self._enter(method, params=params)
        cid = (params or {}).get("clientOrderId")
        out = [dict(o) for o in self.orders.values() if (o["status"] == "open") == (status == "open")]
        if cid is not None and not self.ignore_filter:
            out = [o for o in out if o["clientOrderId"] == cid]
        return out

    def fetch_open_orders(self, symbol=None, since=None, limit=None, params=None):
        return self._query("fetch_open_orders", "open", params)

    def fetch_closed_orders(self, symbol=None, since=None, limit=None, params=None):
        return self._query("fetch_closed_orders", "closed", params)

    def fetch_order(self, id, symbol=None, params=None):
        self._enter("fetch_order", id)
        if id not in self.orders:
            raise ccxt.OrderNotFound(f"kraken order {id} not found")
        return dict(self.orders[id])

    def cancel_order(self, id, symbol=None, params=None):
        self._enter("cancel_order", id, params=params)
        cid = (params or {}).get("clientOrderId")
        for o in self.orders.values():
            if (o["id"] == id or (cid and o["clientOrderId"] == cid)) and o["status"] == "open":
                o["status"] = "canceled"
                return {"info": {"count": 1}}
        raise ccxt.OrderNotFound("kraken EOrder:Unknown order")

    def cancel_all_orders_after(self, timeout, params=None):  # ms, like ccxt
        self._enter("cancel_all_orders_after", timeout)
        return {"error": [], "result": {"currentTime": "2023-11-14T22:13:20Z",
                                        "triggerTime": "0" if not timeout else "2023-11-14T22:14:20Z"}}

    def fetch_my_trades(self, symbol=None, since=None, limit=None, params=None):
        self._enter("fetch_my_trades")
        return [{"id": "T" + o["id"], "order": o["id"], "symbol": o["symbol"], "side": o["side"],
                 "amount": o["filled"], "price": o["average"], "fee": o["fee"], "timestamp": o["timestamp"]}
                for o in self.orders.values() if o["filled"]]


# -- a fake HTTP transport for a real ccxt.kraken ------------------------------------------------------
ASSETS = {"XXBT": {"aclass": "currency", "altname": "XBT", "decimals": 10, "display_decimals": 5, "status": "enabled"},
          "ZUSD": {"aclass": "currency", "altname": "USD", "decimals": 4, "display_decimals": 2, "status": "enabled"}}
PAIRS = {"XXBTZUSD": {"altname": "XBTUSD", "wsname": "XBT/USD", "aclass_base": "currency", "base": "XXBT",
                      "aclass_quote": "currency", "quote": "ZUSD", "lot": "unit", "cost_decimals": 5,
                      "pair_decimals": 1, "lot_decimals": 8, "lot_multiplier": 1, "leverage_buy": [],
                      "leverage_sell": [], "fees": [[0, 0.26]], "fees_maker": [[0, 0.16]],
                      "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40, "ordermin": "0.0001",
                      "costmin": "0.5", "tick_size": "0.1", "status": "online"}}


class _Resp:
    def __init__(self, payload: dict[str, Any]) -> None:
        self.text = json.dumps(payload)
        self.content = self.text.encode()
        self.status_code = 200
        self.headers: dict[str, str] = {"Content-Type": "application/json"}
        self.reason = "OK"

    def raise_for_status(self) -> None:
        return None


class RecordingTransport:
    """Replaces ``exchange.session``: records every request that reaches the wire, answers like Kraken."""

    class _Cookies:
        def clear(self) -> None:
            return None

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.cookies = self._Cookies()
        self.headers: dict[str, str] = {}

    def private(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "/private/" in r["path"]]

    def request(self, method, url, data=None, headers=None, timeout=None, proxies=None, verify=None, **kw):
        parts = urlsplit(url)
        body = data.decode() if isinstance(data, bytes) else (data or "")
        params = {k: v[-1] for k, v in parse_qs(body).items()}
        self.requests.append({"method": method, "url": url, "path": parts.path, "host": parts.hostname,
                              "params": params, "headers": dict(headers or {})})
        name = parts.path.rsplit("/", 1)[-1]
        if name == "Assets":
            return _Resp({"error": [], "result": ASSETS})
        if name == "AssetPairs":
            return _Resp({"error": [], "result": PAIRS})
        if name == "AddOrder":
            descr = {"order": f"{params.get('type')} {params.get('volume')} XBTUSD @ {params.get('ordertype')}"}
            if params.get("validate") in ("true", "True"):
                return _Resp({"error": [], "result": {"descr": descr}})
            return _Resp({"error": [], "result": {"descr": descr, "txid": ["OAAAAA-BBBBB-CCCCCC"]}})
        if name == "BalanceEx":
            return _Resp({"error": [], "result": {"ZUSD": {"balance": "100.0", "hold_trade": "0"}}})
        if name == "Ticker":  # the adapter's price collar reads the mid right before an order
            return _Resp({"error": [], "result": {"XXBTZUSD": {
                "a": ["100.5", "1", "1.0"], "b": ["99.5", "1", "1.0"], "c": ["100.0", "0.1"], "v": ["1", "1"],
                "p": ["100", "100"], "t": [1, 1], "l": ["99", "99"], "h": ["101", "101"], "o": "100"}}})
        if name == "Time":
            return _Resp({"error": [], "result": {"unixtime": 1700000000, "rfc1123": "x"}})
        return _Resp({"error": ["EGeneral:Invalid arguments"]})


def real_ccxt_with_transport(**client_kw: Any):
    """Return ``(KrakenClient over a real ccxt.kraken, RecordingTransport)``."""
    from peaktrade.adapters.kraken import KrakenClient

    client = KrakenClient(api_key="FAKE-API-KEY-123456", api_secret="AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
                          rate_limit=False, **client_kw)
    transport = RecordingTransport()
    client._ex.session = transport
    return client, transport
