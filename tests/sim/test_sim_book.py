"""The order book on its own: state, funds, matching and cancels, with no protocol (no keys, no
request parsing, no Kraken JSON) — what the REST methods of the simulator build on."""

from __future__ import annotations

import math

import pytest

from peaktrade.sim import PAIRS
from peaktrade.sim._book import KrakenError, OrderBook

PAIR = "XXBTZUSD"


@pytest.fixture
def book(sim_feeds):
    return OrderBook(feeds=sim_feeds, seed=1, balances={"ZUSD": 10_000.0, "XXBT": 0.5, "XETH": 0.0})


def _resting_buy_price(book: OrderBook, bars: int) -> float:
    """A limit price below the current ask that the price path of the next ``bars`` bars reaches."""
    now = book.now()
    lo, _ = book.feeds[PAIR].range_between(now, now + bars * book.interval)
    ask_lo = book._quote_at(PAIR, lo)[1]
    d = PAIRS[PAIR]["pair_decimals"]
    price = math.ceil(ask_lo * 10**d) / 10**d
    assert price < book.quote(PAIR)[1], "the fixture's bars must dip within the horizon"
    return price


def test_place_when_limit_buy_rests_and_path_crosses_then_filled_as_maker_and_funds_moved(book):
    price = _resting_buy_price(book, 600)
    bid, ask = book.check_order(PAIR, "buy", 0.01, price, ())
    o = book.place(PAIR, "buy", "limit", 0.01, price, bid=bid, ask=ask, max_open=10)
    assert o.status == "open" and book.holds()["ZUSD"] > 0 and book.balances["XXBT"] == 0.5
    book.advance(bars=600)
    assert o.status == "closed" and o.vol_exec == 0.01 and book.holds()["ZUSD"] == 0
    (trade,) = (book.trades[t] for t in o.trades)
    assert trade["maker"] is True and float(trade["price"]) == price
    assert book.balances["XXBT"] == pytest.approx(0.51)
    assert book.balances["ZUSD"] == pytest.approx(10_000.0 - o.cost - o.fee) and o.fee > 0


def test_place_when_market_buy_then_filled_at_once_at_ask_as_taker(book):
    bid, ask = book.check_order(PAIR, "buy", 0.01, None, ())
    o = book.place(PAIR, "buy", "market", 0.01, None, bid=bid, ask=ask, max_open=10)
    (trade,) = (book.trades[t] for t in o.trades)
    assert o.status == "closed" and trade["maker"] is False and float(trade["price"]) == ask


def test_place_when_order_exceeds_free_funds_then_insufficient_funds_and_nothing_placed(book):
    bid, ask = book.check_order(PAIR, "sell", 0.6, 90_000.0, ())
    with pytest.raises(KrakenError, match="EOrder:Insufficient funds"):
        book.place(PAIR, "sell", "limit", 0.6, 90_000.0, bid=bid, ask=ask, max_open=10)
    assert book.orders == {} and book.balances["XXBT"] == 0.5


def test_check_order_when_market_cancel_only_then_refused_before_anything_placed(book):
    book.set_status("cancel_only")
    with pytest.raises(KrakenError, match="EService:Market in cancel_only mode"):
        book.check_order(PAIR, "buy", 0.01, 20_000.0, ())
    assert book.orders == {}


def test_cancel_when_order_rests_then_canceled_and_its_funds_released(book):
    price = _resting_buy_price(book, 600)
    bid, ask = book.check_order(PAIR, "buy", 0.01, price, ())
    o = book.place(PAIR, "buy", "limit", 0.01, price, bid=bid, ask=ask, max_open=10)
    book.cancel([o])
    assert (o.status, o.reason) == ("canceled", "User requested") and book.holds()["ZUSD"] == 0
    book.advance(bars=600)
    assert o.status == "canceled" and book.trades == {}
