"""Testnet budgets: limits per run and per day, symbol allow-list, atomic reservations under races."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest

from peaktrade.testnet import BudgetExceeded, BudgetLimits, TestnetBudget

LIM = BudgetLimits(run_notional=100.0, run_trades=3, daily_notional=250.0, daily_trades=5,
                   symbols=("BTC/USD",), max_run_seconds=60.0)


def test_reserve_when_within_limits_then_counted_and_idempotent(tmp_path):
    b = TestnetBudget(tmp_path / "b.sqlite", LIM)
    b.reserve(run_id="r1", symbol="BTC/USD", notional=40.0, client_order_id="c1")
    b.reserve(run_id="r1", symbol="BTC/USD", notional=40.0, client_order_id="c1")  # same order: once
    u = b.usage(run_id="r1")
    assert u["run_trades"] == 1 and u["run_notional"] == 40.0 and u["daily_trades_left"] == 4


@pytest.mark.parametrize("kw, limit", [
    ({"notional": 101.0}, "max_run_notional"),
    ({"symbol": "DOGE/USD"}, "symbols"),
    ({"notional": float("nan")}, "notional"),
])
def test_reserve_when_a_limit_would_break_then_denied_naming_it(tmp_path, kw, limit):
    b = TestnetBudget(tmp_path / "b.sqlite", LIM)
    args = {"run_id": "r", "symbol": "BTC/USD", "notional": 1.0, "client_order_id": "x"} | kw
    with pytest.raises(BudgetExceeded) as ei:
        b.reserve(**args)
    assert ei.value.limit == limit and limit in str(ei.value)
    assert b.rows() == []


def test_reserve_when_run_and_day_caps_reached_then_denied_and_release_gives_back(tmp_path):
    from dataclasses import replace

    b = TestnetBudget(tmp_path / "b.sqlite", replace(LIM, daily_trades=10))
    for i in range(3):
        b.reserve(run_id="r1", symbol="BTC/USD", notional=10.0, client_order_id=f"a{i}")
    with pytest.raises(BudgetExceeded, match="max_run_trades"):
        b.reserve(run_id="r1", symbol="BTC/USD", notional=10.0, client_order_id="a3")
    b.reserve(run_id="r2", symbol="BTC/USD", notional=90.0, client_order_id="b0")
    b.reserve(run_id="r4", symbol="BTC/USD", notional=90.0, client_order_id="b1")  # day: 210 of 250
    with pytest.raises(BudgetExceeded, match="max_daily_notional"):
        b.reserve(run_id="r3", symbol="BTC/USD", notional=50.0, client_order_id="c0")
    b.release("b1")
    b.reserve(run_id="r3", symbol="BTC/USD", notional=50.0, client_order_id="c0")


def test_day_when_utc_date_changes_then_daily_budget_starts_over(tmp_path):
    now = {"t": datetime(2026, 1, 1, 23, 59, tzinfo=timezone.utc)}
    b = TestnetBudget(tmp_path / "b.sqlite", LIM, clock=lambda: now["t"])
    for i in range(5):
        b.reserve(run_id=f"r{i}", symbol="BTC/USD", notional=1.0, client_order_id=f"d{i}")
    with pytest.raises(BudgetExceeded, match="max_daily_trades"):
        b.reserve(run_id="r9", symbol="BTC/USD", notional=1.0, client_order_id="d9")
    now["t"] = datetime(2026, 1, 2, 0, 0, 1, tzinfo=timezone.utc)
    b.reserve(run_id="r9", symbol="BTC/USD", notional=1.0, client_order_id="d9")
    assert b.usage()["daily_trades"] == 1


def test_threads_when_racing_for_the_last_budget_then_never_overspent(tmp_path):
    lim = BudgetLimits(1e9, 10**6, daily_notional=100.0, daily_trades=10**6, symbols=("BTC/USD",),
                       max_run_seconds=60)
    path = tmp_path / "b.sqlite"
    wins: list[str] = []
    errors: list[BaseException] = []
    go = threading.Barrier(8, timeout=60)  # a worker that fails must not leave the others waiting forever

    def worker(k: int) -> None:
        try:
            b = TestnetBudget(path, lim)  # one store object per orchestrator, all starting together
            go.wait()
            for i in range(20):
                try:
                    b.reserve(run_id=f"run{k}", symbol="BTC/USD", notional=3.0, client_order_id=f"{k}-{i}")
                    wins.append(f"{k}-{i}")
                except BudgetExceeded:
                    pass
        except BaseException as e:  # noqa: BLE001 — reported by the assertion below
            errors.append(e)
            go.abort()

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in ts), errors
    b = TestnetBudget(path, lim)
    assert len(wins) == 33  # floor(100 / 3): not one more
    assert b.usage()["daily_notional"] == pytest.approx(99.0)


def test_processes_when_racing_for_the_last_budget_then_exactly_the_budget_is_spent(tmp_path):
    path = tmp_path / "b.sqlite"
    TestnetBudget(path, LIM)
    start = time.time() + 1.5
    code = f"""
import sys, time
from peaktrade.testnet import BudgetExceeded, BudgetLimits, TestnetBudget
lim = BudgetLimits(1e9, 10**6, daily_notional=50.0, daily_trades=10**6, symbols=("BTC/USD",), max_run_seconds=60)
b = TestnetBudget({str(path)!r}, lim)
k = sys.argv[1]
while time.time() < {start}:
    time.sleep(0.001)
won = 0
for i in range(30):
    try:
        b.reserve(run_id="p" + k, symbol="BTC/USD", notional=1.0, client_order_id=k + "-" + str(i))
        won += 1
    except BudgetExceeded:
        pass
print(won)
"""
    procs = [subprocess.Popen([sys.executable, "-c", code, str(k)], stdout=subprocess.PIPE, text=True)
             for k in range(4)]
    won = [int(p.communicate(timeout=60)[0].strip()) for p in procs]
    assert sum(won) == 50 and all(p.returncode == 0 for p in procs)
    assert len(TestnetBudget(path, LIM).rows()) == 50
