"""In-process SimExchange: order validation, matching, holds, fees and history (no HTTP)."""

from __future__ import annotations

import pytest

from peaktrade.sim import SimExchange


@pytest.fixture
def ex(make_exchange):
    return make_exchange(balances={"ZUSD": 10_000.0, "XXBT": 0.5, "XETH": 0.0})


def _add(ex, **kw):
    p = {"pair": "XXBTZUSD", "type": "buy", "ordertype": "limit", "volume": "0.01", **kw}
    return ex.call("AddOrder", **p)


def _err(r):
    return r["error"][0] if r["error"] else None


@pytest.mark.parametrize(("kw", "err"), [
    ({"pair": "NOPE"}, "EQuery:Unknown asset pair"),
    ({"type": "hold"}, "EGeneral:Invalid arguments:type"),
    ({"ordertype": "stop-loss", "price": "1"}, "EGeneral:Invalid arguments:ordertype"),
    ({"volume": "abc", "price": "20000"}, "EGeneral:Invalid arguments:volume"),
    ({"volume": "0.000000001", "price": "20000"}, "EGeneral:Invalid arguments:volume"),
    ({}, "EGeneral:Invalid arguments:price"),
    ({"price": "+5%"}, "EGeneral:Invalid arguments:price"),
    ({"price": "20000.05"}, "EOrder:Invalid price:XBTUSD price can only be specified up to 1 decimals."),
    ({"volume": "0.00009", "price": "20000"}, "EOrder:Order minimum not met"),
    ({"volume": "0.0001", "price": "1"}, "EOrder:Cost minimum not met"),
    ({"price": "20000", "oflags": "post", "ordertype": "market"}, "EGeneral:Invalid arguments:oflags"),
    ({"price": "20000", "userref": "1", "cl_ord_id": "x"}, "EGeneral:Invalid arguments:cl_ord_id"),
    ({"price": "20000", "cl_ord_id": "x" * 19}, "EGeneral:Invalid arguments:cl_ord_id"),
    ({"price": "20000", "userref": "99999999999"}, "EGeneral:Invalid arguments:userref"),
    ({"volume": "1", "price": "20000"}, "EOrder:Insufficient funds"),
    ({"type": "sell", "volume": "0.6", "price": "90000"}, "EOrder:Insufficient funds"),
])
def test_add_order_when_invalid_then_exact_kraken_error(ex, kw, err):
    assert _err(_add(ex, **kw)) == err
    assert ex.orders == {}


def test_add_order_when_validate_with_short_funds_then_accepted_like_kraken(ex):
    r = _add(ex, volume="1", price="20000", validate=True)
    assert r == {"error": [], "result": {"descr": {"order": "buy 1.00000000 XBTUSD @ limit 20000.0"}}}


def test_market_sell_when_filled_then_base_debited_quote_credited_net_of_taker_fee(ex):
    bid, _, _ = ex.quote("XXBTZUSD")
    r = _add(ex, type="sell", ordertype="market", volume="0.1")
    txid = r["result"]["txid"][0]
    o = ex.call("QueryOrders", txid=txid, trades=True)["result"][txid]
    assert o["status"] == "closed" and float(o["price"]) == bid and len(o["trades"]) == 1
    fee = round(bid * 0.1 * 0.0026, 4)
    assert ex.balances["XXBT"] == pytest.approx(0.4)
    assert ex.balances["ZUSD"] == pytest.approx(10_000 + bid * 0.1 - fee, abs=1e-3)
    t = ex.call("TradesHistory")["result"]
    assert t["count"] == 1 and next(iter(t["trades"].values()))["pair"] == "XXBTZUSD"


def test_limit_orders_when_resting_then_hold_trade_and_free_balance_reduced(ex):
    _add(ex, price="20000")
    _add(ex, type="sell", volume="0.2", price="90000")
    bx = ex.call("BalanceEx")["result"]
    assert bx["ZUSD"] == {"balance": "10000.0000", "hold_trade": "200.3200"}
    assert bx["XXBT"]["hold_trade"] == "0.2000000000"
    assert _err(_add(ex, type="sell", volume="0.31", price="90000")) == "EOrder:Insufficient funds"
    assert ex.call("Balance")["result"]["XXBT"] == "0.5000000000"


def test_limit_buy_when_marketable_then_fills_at_ask_as_taker(ex):
    _, ask, _ = ex.quote("XXBTZUSD")
    txid = _add(ex, price=f"{ask + 500:.1f}")["result"]["txid"][0]
    o = ex.orders[txid]
    assert o.status == "closed" and o.avg_price == ask
    assert next(iter(ex.trades.values()))["maker"] is False


def test_ioc_limit_when_not_marketable_then_canceled(ex):
    txid = _add(ex, price="20000", timeinforce="IOC")["result"]["txid"][0]
    assert ex.orders[txid].status == "canceled" and ex.holds()["ZUSD"] == 0


def test_cancel_when_by_userref_then_all_matching_open_orders_canceled(ex):
    for _ in range(3):
        _add(ex, price="20000", userref="7")
    _add(ex, price="20000", userref="8")
    assert ex.call("CancelOrder", txid="7")["result"] == {"count": 3}
    assert len(ex.call("OpenOrders")["result"]["open"]) == 1
    assert _err(ex.call("CancelOrder", txid="OXXXXX-XXXXX-XXXXXX")) == "EOrder:Unknown order"
    assert _err(ex.call("QueryOrders", txid="OXXXXX-XXXXX-XXXXXX")) == "EOrder:Invalid order"


def test_cl_ord_id_when_duplicate_open_then_rejected(ex):
    _add(ex, price="20000", cl_ord_id="dup-1")
    assert _err(_add(ex, price="20000", cl_ord_id="dup-1")) == "EOrder:Duplicate order"


def test_closed_orders_when_many_then_paged_by_50_most_recent_first_with_count(make_exchange):
    ex = make_exchange(tier="pro", balances={"ZUSD": 1e7, "XXBT": 0, "XETH": 0})
    ids = []
    for _ in range(60):
        ex.advance(seconds=1)
        ids.append(_add(ex, ordertype="market", volume="0.001")["result"]["txid"][0])
    page = ex.call("ClosedOrders")["result"]
    assert page["count"] == 60 and list(page["closed"])[:2] == [ids[-1], ids[-2]] and len(page["closed"]) == 50
    assert list(ex.call("ClosedOrders", ofs=50)["result"]["closed"]) == ids[9::-1]
    start = ex.orders[ids[49]].opentm
    assert ex.call("TradesHistory", start=start)["result"]["count"] == 10


def test_state_when_requested_then_json_snapshot_of_everything(ex):
    import json

    _add(ex, price="20000")
    st = json.loads(json.dumps(ex.state()))
    assert st["holds"]["ZUSD"] > 0 and len(st["orders"]) == 1 and st["prices"]["XXBTZUSD"]["bid"] > 0


def test_exchange_when_bad_options_then_value_error_names_them(sim_feeds):
    with pytest.raises(ValueError, match="tier"):
        SimExchange(feeds=sim_feeds, tier="whale")
    with pytest.raises(ValueError, match="speed"):
        SimExchange(feeds=sim_feeds, speed=-1)
    with pytest.raises(ValueError, match="base64"):
        SimExchange(feeds=sim_feeds, keys={"k": "not base64!"})


@pytest.mark.parametrize(("status", "kw", "err"), [
    ("maintenance", {}, "EService:Unavailable"),
    ("cancel_only", {}, "EService:Market in cancel_only mode"),
    ("post_only", {}, "EService:Market in post_only mode"),
    ("post_only", {"oflags": "post"}, None),
])
def test_add_order_when_market_status_restricted_then_kraken_service_error(ex, status, kw, err):
    ex.status = status
    assert _err(_add(ex, price="20000", **kw)) == err
