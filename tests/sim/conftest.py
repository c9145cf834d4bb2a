"""Fixtures of the simulator tests: shared synthetic feeds, a running server, a ccxt client."""

from __future__ import annotations

import pytest
from sim_test_support import KEY, SECRET, START

from peaktrade.sim import SimExchange, ccxt_config, serve_in_thread, synthetic_feeds


@pytest.fixture(scope="session")
def sim_feeds():
    """Seeded synthetic 1m bars for every pair (built once; the exchange never mutates them)."""
    return synthetic_feeds(seed=7, n=3000, interval=60, start=START)


@pytest.fixture
def make_exchange(sim_feeds):
    def make(**kw):
        kw.setdefault("keys", {KEY: SECRET})
        kw.setdefault("seed", 1)
        kw.setdefault("tier", "pro")
        return SimExchange(feeds=sim_feeds, **kw)
    return make


@pytest.fixture
def sim(make_exchange):
    """A simulator serving on a free loopback port for the test."""
    with serve_in_thread(make_exchange()) as s:
        yield s


@pytest.fixture
def kraken(sim):
    """Unmodified ccxt kraken pointed at the simulator."""
    import ccxt
    ex = ccxt.kraken(ccxt_config(sim.url, KEY, SECRET, timeout=5000))
    yield ex
    if getattr(ex, "session", None) is not None:
        ex.session.close()
