"""Unmodified ccxt against the simulator over real HTTP on loopback: every supported method."""

from __future__ import annotations

import ccxt
import pytest


def test_load_markets_when_served_then_pairs_have_kraken_precision_limits_and_fees(kraken):
    m = kraken.load_markets()
    btc, eth = m["BTC/USD"], m["ETH/USD"]
    assert (btc["id"], btc["base"], btc["quote"], btc["active"]) == ("XXBTZUSD", "BTC", "USD", True)
    assert (btc["precision"]["amount"], btc["precision"]["price"]) == (1e-08, 0.1)
    assert btc["limits"]["amount"]["min"] == 0.0001 and btc["limits"]["cost"]["min"] == 0.5
    assert (btc["taker"], btc["maker"]) == (0.0026, 0.0016)
    assert eth["id"] == "XETHZUSD" and eth["precision"]["price"] == 0.01
    assert kraken.currencies["BTC"]["id"] == "XXBT" and kraken.currencies["USD"]["precision"] == 0.0001


def test_fetch_time_and_status_when_served_then_sim_clock_and_ok(kraken, sim):
    assert kraken.fetch_time() == int(sim.exchange.now()) * 1000
    assert kraken.fetch_status()["status"] == "ok"


def test_fetch_ticker_when_served_then_bid_below_last_below_ask(kraken, sim):
    t = kraken.fetch_ticker("BTC/USD")
    bid, ask, last = sim.exchange.quote("XXBTZUSD")
    assert (t["bid"], t["ask"], t["last"]) == (bid, ask, last)
    assert t["bid"] < t["last"] < t["ask"] and t["high"] >= t["low"] > 0 and t["baseVolume"] > 0


def test_fetch_order_book_when_limit_given_then_sorted_levels_around_the_quote(kraken, sim):
    ob = kraken.fetch_order_book("ETH/USD", 10)
    bid, ask, _ = sim.exchange.quote("XETHZUSD")
    assert len(ob["bids"]) == len(ob["asks"]) == 10
    assert ob["bids"][0][0] == bid and ob["asks"][0][0] == ask
    assert [b[0] for b in ob["bids"]] == sorted((b[0] for b in ob["bids"]), reverse=True)


def test_fetch_ohlcv_when_since_given_then_pages_forward_without_gaps(kraken, sim):
    rows = kraken.fetch_ohlcv("BTC/USD", "1m")
    assert len(rows) == 720
    since = rows[100][0]
    page = kraken.fetch_ohlcv("BTC/USD", "1m", since=since)
    assert page[0][0] == since and page == rows[100:-1] + page[-1:]
    five = kraken.fetch_ohlcv("BTC/USD", "5m")
    assert all(r[0] % 300_000 == 0 for r in five)


def test_fetch_balance_when_fresh_then_starting_balances_nothing_used(kraken):
    b = kraken.fetch_balance()
    assert b["total"] == {"BTC": 1.0, "ETH": 10.0, "USD": 100000.0}
    assert b["used"]["USD"] == 0.0 and b["free"]["BTC"] == 1.0


def test_create_market_order_when_buying_then_filled_at_ask_with_taker_fee(kraken, sim):
    bid, ask, _ = sim.exchange.quote("XXBTZUSD")
    o = kraken.create_order("BTC/USD", "market", "buy", 0.01)
    assert o["id"].startswith("O") and len(o["id"]) == 19
    got = kraken.fetch_order(o["id"])
    assert got["status"] == "closed" and got["filled"] == 0.01 and got["average"] == ask
    assert float(got["fee"]["cost"]) == pytest.approx(round(ask * 0.01 * 0.0026, 4), abs=1e-4)
    trades = kraken.fetch_my_trades("BTC/USD")
    assert len(trades) == 1 and trades[0]["order"] == o["id"] and trades[0]["takerOrMaker"] == "taker"
    assert trades[0]["fee"]["currency"] == "USD"
    b = kraken.fetch_balance()
    assert b["total"]["BTC"] == pytest.approx(1.01)
    assert b["total"]["USD"] == pytest.approx(100000 - ask * 0.01 - trades[0]["fee"]["cost"], abs=1e-3)


def test_create_limit_order_when_not_crossing_then_open_with_hold_and_cancellable(kraken):
    o = kraken.create_order("BTC/USD", "limit", "buy", 0.01, 20000, {"userref": 42})
    opened = kraken.fetch_open_orders()
    assert [x["id"] for x in opened] == [o["id"]] and opened[0]["status"] == "open"
    assert kraken.fetch_balance()["used"]["USD"] == pytest.approx(0.01 * 20000 * 1.0016)
    res = kraken.cancel_order(o["id"])
    assert res["info"]["result"] == {"count": 1}
    assert kraken.fetch_open_orders() == []
    closed = kraken.fetch_closed_orders()
    assert closed[0]["id"] == o["id"] and closed[0]["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        kraken.cancel_order(o["id"])


def test_create_order_when_validate_then_descr_without_txid_and_nothing_placed(kraken, sim):
    o = kraken.create_order("BTC/USD", "limit", "buy", 0.001, 25000, {"validate": True})
    assert o["id"] is None and o["info"]["descr"]["order"] == "buy 0.00100000 XBTUSD @ limit 25000.0"
    assert kraken.create_order("BTC/USD", "limit", "buy", 0.001, 25000, {"validate": "true"})["id"] is None
    assert sim.exchange.orders == {} and kraken.fetch_open_orders() == []


def test_create_order_when_client_order_id_then_findable_and_cancellable_by_it(kraken):
    o = kraken.create_order("BTC/USD", "limit", "sell", 0.01, 90000, {"clientOrderId": "abc-1"})
    assert kraken.fetch_open_orders(params={"cl_ord_id": "abc-1"})[0]["clientOrderId"] == "abc-1"
    kraken.cancel_order(None, None, {"clientOrderId": "abc-1"})
    assert kraken.fetch_order(o["id"])["status"] == "canceled"


def test_create_order_when_post_only_would_take_then_canceled_not_filled(kraken, sim):
    _, ask, _ = sim.exchange.quote("XXBTZUSD")
    o = kraken.create_order("BTC/USD", "limit", "buy", 0.01, ask + 100, {"postOnly": True})
    got = kraken.fetch_order(o["id"])
    assert got["status"] == "canceled" and got["filled"] == 0 and got["info"]["reason"] == "Post only order"
    ok = kraken.create_order("BTC/USD", "limit", "buy", 0.01, ask - 100, {"postOnly": True})
    assert kraken.fetch_order(ok["id"])["status"] == "open" and "post" in kraken.fetch_order(ok["id"])["info"]["oflags"]


def test_create_order_when_below_ordermin_then_invalid_order(kraken):
    with pytest.raises(ccxt.InvalidOrder, match="EOrder:Order minimum not met"):
        kraken.create_order("BTC/USD", "limit", "buy", 0.00005, 20000, {"validate": True})


def test_create_order_when_funds_short_then_insufficient_funds(kraken):
    with pytest.raises(ccxt.InsufficientFunds):
        kraken.create_order("BTC/USD", "market", "sell", 5)


def test_limit_order_when_price_crosses_after_advance_then_maker_fill_in_my_trades(kraken, sim):
    ex = sim.exchange
    bid, ask, _ = ex.quote("XXBTZUSD")
    feed = ex.feeds["XXBTZUSD"]
    i = feed.index_at(ex.now())
    future_low = float(feed.l[i + 1:i + 300].min())
    target = round(max(future_low + 5, 1.0), 1)
    assert target < bid  # rests now
    o = kraken.create_order("BTC/USD", "limit", "buy", 0.01, target)
    assert kraken.fetch_order(o["id"])["status"] == "open"
    ex.advance(bars=300)
    got = kraken.fetch_order(o["id"])
    assert got["status"] == "closed" and got["average"] == target
    t = kraken.fetch_my_trades("BTC/USD")[0]
    assert t["takerOrMaker"] == "maker"
    assert t["fee"]["cost"] == pytest.approx(round(target * 0.01 * 0.0016, 4), abs=1e-4)
    assert kraken.fetch_balance()["used"]["USD"] == 0.0


def test_ccxt_when_url_override_includes_0_public_then_404_exchange_not_available(sim):
    from sim_test_support import KEY, SECRET

    ex = ccxt.kraken({"apiKey": KEY, "secret": SECRET, "enableRateLimit": False,
                      "urls": {"api": {"public": sim.url + "/0/public", "private": sim.url + "/0/private"}}})
    with pytest.raises(ccxt.ExchangeNotAvailable, match="404"):
        ex.fetch_time()
