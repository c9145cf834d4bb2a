"""The daily loss limit adds up across runs of the same day and account (environment), also across processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
from safety_helpers import ledger_with, order

from peaktrade.safety import TradingState, build_checks
from peaktrade.safety._limits import DailyPnLBook

TODAY = pd.Timestamp("2026-03-02 00:00", tz="UTC")  # the clock of these sessions: market time is "today"


def _run(cfg, losses, *, start=10_000.0, env="paper", clock=TODAY + pd.Timedelta(hours=23)):
    """One session: equity at 00:00 then after each loss; return (guard, limits, decision on a new entry)."""
    guard, limits = build_checks(env, config=cfg, executor_kind="paper", now=clock)
    led = ledger_with(cash=start)
    t = TODAY
    limits.on_equity(t, start, ledger=led)
    eq = start
    for i, loss in enumerate(losses, 1):
        eq -= loss
        t = TODAY + pd.Timedelta(hours=i)
        limits.on_equity(t, eq, ledger=led)
    d = limits.check(order(), ledger=ledger_with(cash=eq), price=1.0, now=t)
    return guard, limits, d


def test_daily_loss_when_two_runs_lose_70_each_then_second_breaches_limit_100(make_cfg):
    cfg = make_cfg(risk={"max_daily_loss": 100.0})
    g1, _, d1 = _run(cfg, [70.0])
    assert d1.allowed and g1.state is TradingState.ACTIVE  # 70 alone is within the limit
    g2, _, d2 = _run(cfg, [70.0])
    assert not d2.allowed and d2.gate == "max_daily_loss"
    assert "loss 140.00 > 100.00" in d2.reason and "other runs" in d2.reason
    assert g2.state is TradingState.HALTED  # the breach engaged the paper kill switch


def test_daily_loss_pct_when_runs_add_up_then_measured_against_the_days_first_equity(make_cfg):
    cfg = make_cfg(risk={"max_daily_loss_pct": 1.0})
    assert _run(cfg, [60.0])[2].allowed
    d = _run(cfg, [50.0])[2]
    assert not d.allowed and "loss 1.10% > 1.00%" in d.reason


def test_daily_loss_when_other_environment_or_past_day_then_not_added(make_cfg):
    cfg = make_cfg(risk={"max_daily_loss": 100.0})
    assert _run(cfg, [70.0], env="shadow")[2].allowed
    # a replay of a past market day is measured on its own: it neither adds nor sees today's losses
    past = _run(cfg, [70.0], clock=TODAY + pd.Timedelta(days=30))
    assert past[2].allowed
    assert _run(cfg, [70.0])[2].allowed  # paper today: only this run's 70 (shadow's and the replay's not added)


def test_daily_loss_when_book_corrupt_then_increasing_orders_denied(make_cfg):
    cfg = make_cfg(risk={"max_daily_loss": 100.0})
    book = cfg.state_dir / "daily_pnl" / "paper.default.json"
    book.parent.mkdir(parents=True)
    book.write_text("{oops")
    d = _run(cfg, [1.0])[2]
    assert not d.allowed and d.gate == "max_daily_loss" and "daily P&L book" in d.reason and "fail closed" in d.reason


_WORKER = """
import sys
from pathlib import Path
from peaktrade.safety._limits import DailyPnLBook
book = DailyPnLBook(Path(sys.argv[1]), environment="paper", account="default", session=sys.argv[2])
for i in range(1, 61):
    book.update("2026-03-02", pnl=-float(i), start_equity=1000.0)
"""


def test_daily_pnl_book_when_processes_update_concurrently_then_no_session_lost(tmp_path):
    path = tmp_path / "daily_pnl" / "paper.default.json"
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(path), f"s{i}"]) for i in range(6)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    data = json.loads(path.read_text())
    assert sorted(data["sessions"]) == [f"s{i}" for i in range(6)]
    assert all(v["pnl"] == -60.0 for v in data["sessions"].values())
    others, base = DailyPnLBook(path, environment="paper", account="default", session="new").update(
        "2026-03-02", pnl=0.0, start_equity=1000.0)
    assert others == -360.0 and base == 1000.0
