"""The execution pipeline: hooks, checks, denials (a check that cannot decide denies)."""

from __future__ import annotations

import pandas as pd

from peaktrade.execution import Decision, ExecutionPipeline, Hooks, Ledger
from peaktrade.orders import PaperExecutor, PaperMarketContext

T0 = pd.Timestamp("2024-01-01", tz="UTC")


class DenyBuys:
    def check(self, request, *, ledger, price, now):
        return Decision(request.side != "buy", "deny_buys", "no buying today")


class Broken:
    def check(self, request, *, ledger, price, now):
        raise RuntimeError("limits store unreachable")


def _pipe(checks):
    ctx = PaperMarketContext("BTC/USD")
    calls = {"before": [], "fill": [], "denial": [], "bar": []}
    hooks = Hooks(before_order=[calls["before"].append], after_fill=[calls["fill"].append],
                  on_denial=[lambda r, d: calls["denial"].append(d)], on_bar=[calls["bar"].append])
    pipe = ExecutionPipeline(symbol="BTC/USD", executor=PaperExecutor(ctx, fees=0.001), ledger=Ledger(1_000.0),
                             context=ctx, checks=checks, execution="close", hooks=hooks)
    return pipe, calls


def test_pipeline_runs_hooks_and_books_fills_when_checks_pass():
    pipe, calls = _pipe([])
    pipe.on_bar(T0, T0 + pd.Timedelta("1h"), 100, 101, 99, 100, 5, True, False)
    assert len(calls["before"]) == 1 and len(calls["fill"]) == 1 and calls["denial"] == []
    assert calls["bar"][0]["position"] > 0 and pipe.ledger.position("BTC/USD") > 0
    assert calls["fill"][0].timestamp == T0 + pd.Timedelta("1h")  # a close fill is stamped at the close


def test_pipeline_records_denial_and_sends_nothing_when_a_check_denies():
    pipe, calls = _pipe([DenyBuys()])
    pipe.on_bar(T0, T0 + pd.Timedelta("1h"), 100, 101, 99, 100, 5, True, False)
    assert calls["fill"] == [] and calls["before"] == [] and pipe.ledger.position("BTC/USD") == 0
    (d,) = calls["denial"]
    assert d.gate == "deny_buys" and pipe.denials[0][1] is d


def test_pipeline_denies_when_a_check_cannot_decide():
    pipe, calls = _pipe([Broken()])
    pipe.on_bar(T0, T0 + pd.Timedelta("1h"), 100, 101, 99, 100, 5, True, False)
    (d,) = calls["denial"]
    assert not d.allowed and "limits store unreachable" in d.reason and calls["fill"] == []
