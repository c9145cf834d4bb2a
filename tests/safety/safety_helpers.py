"""Builders shared by the safety tests: orders, ledgers with positions, limits, an open readiness probe."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from peaktrade.execution.ledger import Ledger, Position
from peaktrade.orders.model import OrderRequest
from peaktrade.safety import ProbeResult
from peaktrade.sim import SimExchange, serve_in_thread

T0 = pd.Timestamp("2024-01-02 10:00", tz="UTC")
MIDNIGHT = pd.Timestamp("2024-01-02 00:00", tz="UTC")

#: Every [risk] limit set, generously (testnet/live refuse to start otherwise).
ALL_LIMITS: dict[str, Any] = {
    "max_order_notional": 1_000_000.0, "max_position_notional": 1_000_000.0, "max_total_exposure": 1_000_000.0,
    "max_open_positions": 10, "max_daily_loss": 1_000_000.0, "max_orders_per_minute": 100,
}


def order(side: str = "buy", qty: float = 1.0, symbol: str = "BTC/USD", **kw: Any) -> OrderRequest:
    return OrderRequest(symbol, side, qty, **kw)


def ledger_with(cash: float = 10_000.0, **positions: tuple[float, float]) -> Ledger:
    """Return a ledger holding ``SYMBOL_QUOTE=(quantity, avg_price)`` positions (``BTC_USD`` → ``BTC/USD``)."""
    led = Ledger(cash)
    for key, (qty, avg) in positions.items():
        sym = key.replace("_", "/")
        led.positions[sym] = Position(sym, quantity=qty, avg_price=avg)
    return led


def ready_probe(**overrides: Any):
    """Return a readiness probe that reports a healthy exchange at the live venue (fields overridable: ``venue=`` the
    URL the authorization is bound to) and counts its calls. It runs no readiness check list: an authorization it
    grants is good for reduce-only orders only."""
    calls: list[Any] = []

    def probe(config: Any) -> ProbeResult:
        calls.append(config)
        fields = {"reachable": True, "clock_skew_seconds": 0.25, "balances": {"USD": 1_000.0},
                  "venue": "https://api.kraken.com", **overrides}
        return ProbeResult(**fields)

    probe.calls = calls  # type: ignore[attr-defined]
    return probe


class ArmedSwitch:
    """A dead-man switch stand-in that is always confirmed armed (unit tests of the wire check only)."""

    def is_armed(self) -> bool:
        return True

    def describe(self) -> str:
        return "armed (test stand-in)"


#: A passing readiness check list for :func:`ready_probe` (``checks=FULL_CHECKS``): the authorization is full.
FULL_CHECKS = (("venue", "pass", "reachable"),)


@contextmanager
def counting_sim(ex: SimExchange) -> Iterator[Any]:
    """Serve ``ex`` in a thread; the server's ``arrived`` lists every AddOrder request that reached it (validate-only
    too) and ``requests`` every method it answered, public or private, so a test proves what a closed gate kept
    off the wire."""
    arrived: list[dict] = []
    requests: list[str] = []
    real, pub, priv = ex._priv_AddOrder, ex.handle_public, ex.handle_private

    def counting(params, ks):
        arrived.append(dict(params))
        return real(params, ks)

    ex._priv_AddOrder = counting
    ex.handle_public = lambda method, params: (requests.append(method), pub(method, params))[1]
    ex.handle_private = lambda method, *a: (requests.append(method), priv(method, *a))[1]
    with serve_in_thread(ex) as srv:
        srv.arrived, srv.requests = arrived, requests
        yield srv
