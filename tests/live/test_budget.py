"""Testnet budgets: limits per run and per day, symbol allow-list, atomic reservations under races."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
from testnet_helpers import REPO_ROOT  # noqa: F401 — puts tests/adapters (kraken_fakes) on sys.path

from peaktrade.live.budget import BudgetExceeded, BudgetLimits, BudgetStoreError, DuplicateClientOrderId, TestnetBudget

LIM = BudgetLimits(run_notional=100.0, run_trades=3, daily_notional=250.0, daily_trades=5,
                   symbols=("BTC/USD",), max_run_seconds=60.0)


def test_reserve_when_within_limits_then_counted(tmp_path):
    b = TestnetBudget(tmp_path / "b.sqlite", LIM)
    b.reserve(run_id="r1", symbol="BTC/USD", notional=40.0, client_order_id="c1")
    u = b.usage(run_id="r1")
    assert u["run_trades"] == 1 and u["run_notional"] == 40.0 and u["daily_trades_left"] == 4


@pytest.mark.parametrize("first_status", ["reserved", "released", "forced_exit"])
def test_reserve_when_client_order_id_reused_then_rejected_and_budget_untouched(tmp_path, first_status):
    b = TestnetBudget(tmp_path / "b.sqlite", LIM)
    b.reserve(run_id="r1", symbol="BTC/USD", notional=40.0, client_order_id="c1", force=first_status == "forced_exit")
    if first_status == "released":
        b.release("c1")
    before = b.rows()
    for run in ("r1", "r2"):  # same run or another run: an id is single-use
        with pytest.raises(DuplicateClientOrderId) as ei:
            b.reserve(run_id=run, symbol="BTC/USD", notional=1.0, client_order_id="c1")
        assert ei.value.limit == "client_order_id" and "'c1'" in str(ei.value) and "single-use" in str(ei.value)
        with pytest.raises(DuplicateClientOrderId):  # not even past the caps as an exit
            b.reserve(run_id=run, symbol="BTC/USD", notional=1.0, client_order_id="c1", force=True)
    assert b.rows() == before and before[0]["status"] == first_status


def test_pipeline_when_one_client_order_id_is_reused_six_times_then_one_order_reaches_the_venue(tmp_path):
    import pandas as pd
    from kraken_fakes import FakeCcxtKraken

    from peaktrade.adapters.kraken import KrakenClient, RetryPolicy
    from peaktrade.execution.ledger import Ledger
    from peaktrade.execution.pipeline import ExecutionPipeline
    from peaktrade.live.budget import BudgetCheck
    from peaktrade.orders.exchange import ExchangeExecutor
    from peaktrade.orders.model import OrderRequest
    from peaktrade.orders.paper import PaperMarketContext
    from peaktrade.safety import SafetyGuard

    fake = FakeCcxtKraken(price=100.0)
    client = KrakenClient(guard=SafetyGuard("testnet", executor_kind="exchange"), base_url="http://127.0.0.1:9",
                          exchange=fake, sleep=lambda s: None, retry=RetryPolicy(max_attempts=1))
    budget = TestnetBudget(tmp_path / "b.sqlite", LIM)  # run cap: 3 trades
    ctx = PaperMarketContext("BTC/USD", time=pd.Timestamp("2026-01-01", tz="UTC"), price=100.0)
    pipe = ExecutionPipeline(symbol="BTC/USD", executor=ExchangeExecutor(client, ctx, budget=budget, sleep=lambda s: None),
                             ledger=Ledger(1000.0), context=ctx, checks=[BudgetCheck(budget, run_id="r1")])
    results = [pipe.submit(OrderRequest("BTC/USD", "buy", 0.01, client_order_id="same-id"), price=100.0,
                           now=ctx.time) for _ in range(6)]
    assert results[0] is not None and all(r is None for r in results[1:])
    assert fake.count("create_order") == 1 and len(fake.orders) == 1
    assert [d.gate for _, d in pipe.denials] == ["client_order_id"] * 5
    assert len(budget.rows()) == 1 and pipe.ledger.position("BTC/USD") == pytest.approx(0.01)


def test_processes_when_one_reuses_a_client_order_id_of_another_then_rejected(tmp_path):
    path = tmp_path / "b.sqlite"
    code = f"""
import sys
from peaktrade.live.budget import BudgetLimits, TestnetBudget
from peaktrade.live.budget import DuplicateClientOrderId
b = TestnetBudget({str(path)!r}, BudgetLimits(100.0, 3, 250.0, 5, ("BTC/USD",), 60.0))
try:
    b.reserve(run_id=sys.argv[1], symbol="BTC/USD", notional=1.0, client_order_id="shared-id")
    print("reserved")
except DuplicateClientOrderId:
    print("duplicate")
"""
    out = [subprocess.run([sys.executable, "-c", code, f"p{k}"], capture_output=True, text=True, timeout=60)
           for k in range(2)]
    assert [o.stdout.strip() for o in out] == ["reserved", "duplicate"], [o.stderr for o in out]
    assert len(TestnetBudget(path, LIM).rows()) == 1


@pytest.mark.parametrize("content", [b"this is not a database at all" * 200, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_store_when_database_file_is_corrupt_then_one_clear_error_and_file_untouched(tmp_path, content):
    path = tmp_path / "b.sqlite"
    path.write_bytes(content)
    with pytest.raises(BudgetStoreError) as ei:
        TestnetBudget(path, LIM).usage()
    msg = str(ei.value)
    assert str(path) in msg and "move it aside" in msg and "\n" not in msg
    assert path.read_bytes() == content and sorted(p.name for p in tmp_path.iterdir()) == ["b.sqlite"]


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
    now = {"t": datetime(2026, 1, 1, 23, 59, tzinfo=UTC)}
    b = TestnetBudget(tmp_path / "b.sqlite", LIM, clock=lambda: now["t"])
    for i in range(5):
        b.reserve(run_id=f"r{i}", symbol="BTC/USD", notional=1.0, client_order_id=f"d{i}")
    with pytest.raises(BudgetExceeded, match="max_daily_trades"):
        b.reserve(run_id="r9", symbol="BTC/USD", notional=1.0, client_order_id="d9")
    now["t"] = datetime(2026, 1, 2, 0, 0, 1, tzinfo=UTC)
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
from peaktrade.live.budget import BudgetExceeded, BudgetLimits, TestnetBudget
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
