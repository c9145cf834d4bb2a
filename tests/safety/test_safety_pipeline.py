"""The safety checks inside a real ExecutionPipeline with a PaperExecutor, as a session assembles them."""

from __future__ import annotations

import json

import pandas as pd

from peaktrade.execution.ledger import Ledger
from peaktrade.execution.pipeline import ExecutionPipeline, Hooks, SizingModel
from peaktrade.orders.paper import PaperExecutor, PaperMarketContext
from peaktrade.safety import RiskLimits, SafetyGuard, TradingState, build_checks


def make_pipeline(checks, hooks=None, cash=10_000.0):
    ctx = PaperMarketContext("BTC/USD")
    ledger = Ledger(cash)
    pipe = ExecutionPipeline(symbol="BTC/USD", executor=PaperExecutor(ctx, fees=0.001), ledger=ledger, context=ctx,
                             checks=checks, execution="next_open", direction="long",
                             sizing=SizingModel(1.0, "percent", 0.001), hooks=hooks)
    return pipe, ledger


def run_bars(pipe, closes, entries=(), exits=(), start="2024-01-02 00:00"):
    times = pd.date_range(start, periods=len(closes), freq="h", tz="UTC")
    prev = closes[0]
    for i, (t, c) in enumerate(zip(times, closes)):
        o = prev
        pipe.on_bar(t, t + pd.Timedelta("1h"), o, max(o, c), min(o, c), c, 1.0, i in entries, i in exits)
        prev = c


def test_pipeline_when_risk_limit_denies_entry_then_denial_recorded_hooked_and_nothing_booked(make_cfg, tmp_path):
    cfg = make_cfg(risk={"max_order_notional": 5_000.0}, safety={"state_dir": str(tmp_path / "st")})
    checks = build_checks("paper", config=cfg, executor_kind="paper")
    seen = []
    pipe, ledger = make_pipeline(checks, Hooks(on_denial=[lambda req, d: seen.append((req, d))]))
    run_bars(pipe, [100.0, 101.0, 102.0], entries={0})
    assert ledger.position("BTC/USD") == 0.0 and ledger.cash == 10_000.0
    [(req, dec)] = pipe.denials
    assert seen == pipe.denials
    assert dec.gate == "max_order_notional" and dec.reason.startswith("max_order_notional: ")
    assert req.side == "buy" and req.tag == "entry"
    guard, limits = checks
    assert [(r.component, r.allowed, r.gate) for r in guard.decisions] == [
        ("SafetyGuard", True, "SafetyGuard"), ("RiskLimits", False, "max_order_notional")]
    audit = [json.loads(x) for x in (tmp_path / "st" / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["gate"] == "max_order_notional" and audit[-1]["subject"]["client_order_id"] == req.client_order_id


def test_pipeline_when_within_limits_then_orders_fill_and_both_checks_allow(make_cfg, tmp_path):
    cfg = make_cfg(risk={"max_order_notional": 20_000.0, "max_orders_per_minute": 2},
                   safety={"state_dir": str(tmp_path / "st")})
    pipe, ledger = make_pipeline(build_checks("paper", config=cfg, executor_kind="paper"))
    run_bars(pipe, [100.0, 101.0, 102.0, 103.0], entries={0}, exits={2})
    assert pipe.denials == [] and len(ledger.trades) == 1


def test_pipeline_when_daily_loss_breached_then_kill_switch_halts_the_session_and_survives_restart(make_cfg, tmp_path):
    cfg = make_cfg(risk={"max_daily_loss_pct": 5.0}, safety={"state_dir": str(tmp_path / "st")})
    guard, limits = checks = build_checks("paper", config=cfg, executor_kind="paper")
    pipe, ledger = make_pipeline(checks)
    # enter at the open of bar 1 (100), crash 10 % by bar 3, exit signal on bar 3 → denied at bar 4's open
    run_bars(pipe, [100.0, 100.0, 97.0, 90.0, 91.0, 92.0], entries={0}, exits={3})
    assert guard.state is TradingState.HALTED
    assert ledger.position("BTC/USD") > 0  # halted: even the exit was denied (only cancels pass)
    assert [d.gate for _, d in pipe.denials] == ["halted"]
    assert "max_daily_loss_pct: loss" in pipe.denials[0][1].reason
    state = json.loads((tmp_path / "st" / "kill_switch.paper.json").read_text())
    assert state["state"] == "halted" and state["source"] == "max_daily_loss_pct"
    assert state["since"] == "2024-01-02T04:00:00+00:00"  # market time: the close of bar 3 (03:00–04:00)
    restarted, _ = build_checks("paper", config=cfg, executor_kind="paper")
    assert restarted.state is TradingState.HALTED


def test_pipeline_when_kill_switch_reducing_then_exit_passes_and_reentry_denied(tmp_path):
    guard = SafetyGuard("paper", executor_kind="paper")
    pipe, ledger = make_pipeline([guard, RiskLimits()])
    run_bars(pipe, [100.0, 101.0], entries={0})
    assert ledger.position("BTC/USD") > 0
    guard.kill_switch.engage("wind down", state="reducing")
    run_bars(pipe, [101.0, 102.0, 103.0, 104.0], exits={0}, entries={2}, start="2024-01-02 02:00")
    assert ledger.position("BTC/USD") == 0.0 and len(ledger.trades) == 1
    assert [d.gate for _, d in pipe.denials] == ["reducing"]


def test_pipeline_when_check_raises_then_pipeline_denies(tmp_path):
    class Exploding:
        def check(self, request, *, ledger, price, now):
            raise RuntimeError("boom")

    pipe, ledger = make_pipeline([SafetyGuard("paper", executor_kind="paper"), Exploding()])
    run_bars(pipe, [100.0, 101.0], entries={0})
    assert ledger.position("BTC/USD") == 0.0 and "check failed: RuntimeError: boom" in pipe.denials[0][1].reason
