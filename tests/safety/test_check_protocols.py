"""The hooks the pipeline calls on checks and executors are declared protocols, implemented by the real ones."""

from __future__ import annotations

import pandas as pd

from peaktrade.config import RiskConfig
from peaktrade.execution import (
    BarDrivenExecutor,
    EquityObserver,
    ExecutionPipeline,
    FillObserver,
    Ledger,
    QuotingExecutor,
)
from peaktrade.orders.model import OrderFill
from peaktrade.orders.paper import PaperExecutor, PaperMarketContext
from peaktrade.safety import RiskLimits, SafetyGuard


def test_real_checks_and_executors_when_inspected_then_implement_the_pipeline_protocols():
    limits = RiskLimits(RiskConfig())
    assert isinstance(limits, FillObserver) and isinstance(limits, EquityObserver)
    assert not isinstance(SafetyGuard(executor_kind="paper"), FillObserver)
    ex = PaperExecutor(PaperMarketContext("BTC/USD"))
    assert isinstance(ex, QuotingExecutor) and isinstance(ex, BarDrivenExecutor)


class _Recorder:
    """A check that follows fills and equity through the declared protocol methods only."""

    def __init__(self) -> None:
        self.fills: list[OrderFill] = []
        self.equity: list[float] = []

    def check(self, request, *, ledger, price, now):
        from peaktrade.execution import Decision

        return Decision(True, "recorder")

    def on_fill(self, fill: OrderFill, *, ledger: Ledger) -> None:
        self.fills.append(fill)

    def on_equity(self, time: pd.Timestamp, equity: float, *, ledger: Ledger) -> None:
        self.equity.append(equity)


def test_pipeline_when_check_implements_observers_then_calls_on_fill_and_on_equity():
    ctx = PaperMarketContext("BTC/USD")
    rec = _Recorder()
    assert isinstance(rec, FillObserver) and isinstance(rec, EquityObserver)
    pipe = ExecutionPipeline(symbol="BTC/USD", executor=PaperExecutor(ctx), ledger=Ledger(1_000.0), context=ctx,
                             checks=[rec], execution="close")
    t = pd.Timestamp("2024-01-01", tz="UTC")
    for i, (entry, exit_) in enumerate([(True, False), (False, False), (False, True)]):
        ts = t + pd.Timedelta(hours=i)
        pipe.on_bar(ts, ts + pd.Timedelta(hours=1), 100.0, 101.0, 99.0, 100.0 + i, 1.0, entry, exit_)
    assert [f.side for f in rec.fills] == ["buy", "sell"]
    assert len(rec.equity) == 3
