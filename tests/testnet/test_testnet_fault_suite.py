"""Fault injection over the simulator (real HTTP, in-process server): hundreds of seeded random fault
schedules on the order path; zero duplicate orders, zero lost fills, and the ledger equals the
simulator's balances at the end."""

from __future__ import annotations

import itertools
import json
import os
import random

import pandas as pd
import pytest

import peaktrade.sim as sim

from peaktrade.adapters.kraken import KrakenClient, RetryPolicy  # noqa: E402
from peaktrade.adapters.kraken.client import kraken_cl_ord_id  # noqa: E402
from peaktrade.execution.ledger import Ledger  # noqa: E402
from peaktrade.orders.model import OrderRequest, OrderStatus  # noqa: E402
from peaktrade.orders.paper import PaperMarketContext  # noqa: E402
from peaktrade.safety import SafetyGuard  # noqa: E402
from peaktrade.testnet import TestnetExecutor  # noqa: E402

KEY, SECRET = "fault-key", "ZmF1bHQtc3VpdGUtc2VjcmV0LTAxMjM0NTY3ODk="
SCHEDULES = int(os.environ.get("PEAKTRADE_FAULT_SCHEDULES", "200"))
ORDERS_PER_SCHEDULE = 3
METHODS = "AddOrder+OpenOrders+ClosedOrders+QueryOrders"


class FastWall:
    """The simulator's wall clock: 5 s per reading, so rate counters decay while prices stand still."""

    def __init__(self) -> None:
        self.t = itertools.count(0, 5.0)

    def __call__(self) -> float:
        return float(next(self.t))


def test_fault_schedules_when_hundreds_randomized_then_no_duplicates_no_lost_fills_and_books_match():
    ex = sim.SimExchange(keys={KEY: SECRET}, seed=11, speed=0.0, wall_clock=FastWall(), tier="pro")
    start = dict(ex.balances)
    stats = {"schedules": 0, "orders": 0, "filled": 0, "rejected": 0, "unknown_then_settled": 0,
             "faults_injected": 0}
    with sim.serve_in_thread(ex) as srv:
        guard = SafetyGuard("testnet", executor_kind="exchange")
        client = KrakenClient(guard=guard, base_url=srv.url, api_key=KEY, api_secret=SECRET, rate_limit=False,
                              sleep=lambda s: None, timeout_ms=5000,
                              retry=RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002))
        ctx = PaperMarketContext("BTC/USD", time=pd.Timestamp("2026-01-01", tz="UTC"), price=30_000.0)
        ledger = Ledger(0.0)
        executor = TestnetExecutor(client, ctx, fill_wait=0.2, poll=0.0, sleep=lambda s: None)
        ours: dict[str, str] = {}  # venue cl_ord_id -> our id
        booked: dict[str, float] = {}
        for seed in range(SCHEDULES):
            rng = random.Random(seed)
            kinds = "+".join(rng.sample(["drop", "error_after", "http_error", "unavailable", "rate_limit",
                                         "invalid_nonce"], k=rng.randint(1, 4)))
            p = rng.choice([0.1, 0.25, 0.4])
            ex.faults.profile = sim.parse_profile(f"flaky:seed={seed},p={p},kinds={kinds},methods={METHODS}")
            stats["schedules"] += 1
            for i in range(ORDERS_PER_SCHEDULE):
                side = "buy" if ledger.position("BTC/USD") <= 0 or rng.random() < 0.5 else "sell"
                qty = round(rng.uniform(0.0002, 0.002), 6) if side == "buy" else \
                    min(ledger.position("BTC/USD"), round(rng.uniform(0.0002, 0.002), 6))
                req = OrderRequest("BTC/USD", side, qty, client_order_id=f"fs{seed}-{i}-{rng.getrandbits(40):x}")
                ours[kraken_cl_ord_id(req.client_order_id)] = req.client_order_id
                stats["orders"] += 1
                res = executor.submit(req)
                for f in res.fills:
                    ledger.apply(f)
                    booked[f.client_order_id] = booked.get(f.client_order_id, 0.0) + f.quantity
                if res.status is OrderStatus.REJECTED:
                    stats["rejected"] += 1
                if res.status is OrderStatus.ACCEPTED and res.reason.startswith("outcome unknown"):
                    stats["unknown_then_settled"] += 1
            ex.faults.profile = sim.parse_profile("none")
            for res in executor.settle_all(wait=1.0):  # in-flight orders are reconciled, never re-sent
                for f in res.fills:
                    ledger.apply(f)
                    booked[f.client_order_id] = booked.get(f.client_order_id, 0.0) + f.quantity
        stats["faults_injected"] = len(ex.faults.injected)
        assert executor.pending == []
        venue = [o for o in ex.orders.values() if o.cl_ord_id in ours]
        cids = [o.cl_ord_id for o in venue]
        duplicates = len(cids) - len(set(cids))
        lost = [o.cl_ord_id for o in venue if abs(booked.get(ours[o.cl_ord_id], 0.0) - o.vol_exec) > 1e-12]
        phantom = [c for c in booked if kraken_cl_ord_id(c) not in set(cids)]
        stats.update(venue_orders=len(venue), duplicates=duplicates, lost_fills=len(lost), phantom_fills=len(phantom),
                     filled=sum(1 for o in venue if o.vol_exec > 0))
        d_usd = ex.balances["ZUSD"] - start["ZUSD"]
        d_btc = ex.balances["XXBT"] - start["XXBT"]
        stats.update(ledger_cash=round(ledger.cash, 6), sim_usd_delta=round(d_usd, 6),
                     ledger_btc=round(ledger.position("BTC/USD"), 10), sim_btc_delta=round(d_btc, 10))
        print("FAULT-SUITE " + json.dumps(stats))
        assert duplicates == 0 and lost == [] and phantom == []
        assert ledger.cash == pytest.approx(d_usd, abs=1e-6)
        assert ledger.position("BTC/USD") == pytest.approx(d_btc, abs=1e-9)
        assert stats["faults_injected"] > SCHEDULES  # the schedules did bite
