"""Risk limits and budgets see the price an order fills at (ask/bid + slippage bound + fees), never a bar's
price; absurd sizes are refused before anything is booked."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from peaktrade.execution.ledger import Ledger, LedgerError
from peaktrade.execution.pipeline import ExecutionPipeline, SizingModel
from peaktrade.orders.model import OrderFill, OrderRequest, OrderStatus
from peaktrade.orders.paper import PaperExecutor, PaperMarketContext
from peaktrade.safety import RiskLimits

T0 = pd.Timestamp("2024-01-02 10:00", tz="UTC")


def _pipe(checks, *, slippage=0.0, fees=0.0, cash=10_000.0, price=100.0):
    ctx = PaperMarketContext("BTC/USD", time=T0, price=price)
    ledger = Ledger(cash)
    ex = PaperExecutor(ctx, fees=fees, slippage=slippage)
    pipe = ExecutionPipeline(symbol="BTC/USD", executor=ex, ledger=ledger, context=ctx, checks=checks,
                             sizing=SizingModel(1.0, "percent", fees, 0.0, slippage))
    return pipe, ledger


def test_notional_limit_when_slippage_would_push_fill_past_it_then_denied_before_the_fill():
    from peaktrade.config import RiskConfig

    limits = RiskLimits(RiskConfig(max_order_notional=1_000.0))
    pipe, ledger = _pipe([limits], slippage=0.01)
    res = pipe.submit(OrderRequest("BTC/USD", "buy", 10.0), price=100.0, now=T0)  # 1,000 at the bar, 1,010 filled
    assert res is None and ledger.cash == 10_000.0 and ledger.position("BTC/USD") == 0.0
    [(_, decision)] = pipe.denials
    assert decision.gate == "max_order_notional" and "1,010.00 > 1,000.00" in decision.reason


def test_notional_limit_when_fees_included_then_order_at_limit_after_fees_denied_and_below_allowed():
    from peaktrade.config import RiskConfig

    limits = RiskLimits(RiskConfig(max_order_notional=1_000.0))
    pipe, ledger = _pipe([limits], fees=0.002)
    assert pipe.submit(OrderRequest("BTC/USD", "buy", 10.0), price=100.0, now=T0) is None  # 1,000 + 2 fee
    res = pipe.submit(OrderRequest("BTC/USD", "buy", 9.9), price=100.0, now=T0)
    assert res is not None and res.status == OrderStatus.FILLED
    assert max(f.notional + f.fee for f in res.fills) <= 1_000.0


def test_order_when_quantity_1e308_then_denied_with_clear_reason_and_ledger_untouched():
    pipe, ledger = _pipe([])  # no limits at all (paper default): the size check still holds
    res = pipe.submit(OrderRequest("BTC/USD", "buy", 1e308), price=100.0, now=T0)
    assert res is None
    [(_, decision)] = pipe.denials
    assert decision.gate == "order_size" and "quantity 1e+308" in decision.reason and "expected at most" in decision.reason
    assert ledger.cash == 10_000.0 and not ledger.positions and math.isfinite(ledger.equity({"BTC/USD": 100.0}))


def test_paper_executor_when_absurd_size_submitted_directly_then_rejected_not_filled():
    ctx = PaperMarketContext("BTC/USD", time=T0, price=100.0)
    res = PaperExecutor(ctx).submit(OrderRequest("BTC/USD", "buy", 1e308))
    assert res.status == OrderStatus.REJECTED and not res.fills and "order size" in res.reason


@pytest.mark.parametrize("qty, price, fee", [(1e308, 100.0, 0.0), (1.0, math.inf, 0.0), (1.0, 100.0, math.nan),
                                             (1e12, 1e6, 0.0)])
def test_ledger_when_fill_not_finite_or_absurd_then_raises_before_booking(qty, price, fee):
    ledger = Ledger(1_000.0)
    with pytest.raises(LedgerError, match="nothing was booked"):
        ledger.apply(OrderFill("x", "BTC/USD", "buy", qty, price, fee, T0))
    assert ledger.cash == 1_000.0 and ledger.fees_paid == 0.0 and not ledger.positions


class _QuotingExecutor(PaperExecutor):
    """A paper executor whose market has moved on from the bar (a catch-up bar of hours ago)."""

    now_price: float = 0.0

    def market_price(self, symbol, side):
        return self.now_price


def test_pipeline_when_bar_price_is_stale_then_sized_and_checked_at_the_executors_quote():
    from peaktrade.config import RiskConfig

    ctx = PaperMarketContext("BTC/USD", time=T0)
    ex = _QuotingExecutor(ctx)
    ex.now_price = 140.0
    limits = RiskLimits(RiskConfig(max_order_notional=22.0))
    pipe = ExecutionPipeline(symbol="BTC/USD", executor=ex, ledger=Ledger(1_000.0), context=ctx, checks=[limits],
                             sizing=SizingModel(20.0, "value"))
    pipe.move_to(1, 100.0, T0)  # the bar says 100; the market is at 140 now
    [trade_qty] = [pipe.ledger.position("BTC/USD")]
    assert trade_qty == pytest.approx(20.0 / 140.0)  # sized at today's price, not the bar's
    assert [d for _, d in pipe.denials] == []
    # an order sized at the stale bar price is checked at today's price and denied
    res = pipe.submit(OrderRequest("BTC/USD", "buy", 0.2), price=100.0, now=T0)  # 20 at the bar, 28 now
    assert res is None and pipe.denials[-1][1].gate == "max_order_notional"
    assert "28.00 > 22.00" in pipe.denials[-1][1].reason


def test_testnet_catch_up_when_real_btc_1h_then_no_fill_above_limit_and_budget_counts_what_venue_executed(
        shared_data, tmp_path, monkeypatch):
    """Real BTC 1h bars served by the simulator; 168 catch-up bars traded at the venue's price of today."""
    import peaktrade.sim as sim
    from peaktrade.config import load_config
    from peaktrade.data.venue_feeds import load_feeds
    from peaktrade.live.runlog import read_events
    from peaktrade.live.testnet import budget_from_config, run_testnet_session

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "live"))
    from testnet_helpers import write_testnet_config

    for var in ("KRAKEN_API_KEY", "KRAKEN_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    feeds = load_feeds([str(shared_data / "XBTUSD_60.csv.gz")])
    start = pd.Timestamp("2021-01-08 12:00", tz="UTC").timestamp()  # BTC rose ~40% over the week before
    ex = sim.SimExchange(feeds=feeds, keys=dict([sim.sim_credentials()]), speed=0.0, start=start, tier="pro",
                         balances={"ZUSD": 100_000.0, "XXBT": 0.0})
    big = {"max_run_notional": 1e6, "max_run_trades": 1000, "max_daily_notional": 1e6, "max_daily_trades": 1000}
    path = write_testnet_config(tmp_path, risk={"max_order_notional": 22.0}, testnet=big, profiles={
        "h": {"strategy": "ma_crossover", "parameters": {"fast": 2, "slow": 4}, "symbol": "BTC/USD",
              "timeframe": "1h", "duration": 600.0, "max_notional": 1e6, "max_trades": 1000, "order_notional": 20.0}})
    cfg = load_config(path)
    with sim.serve_in_thread(ex) as srv:
        res = run_testnet_session("h", config=cfg, mode="kraken-sim", base_url=srv.url, warmup=10, catch_up=168,
                                  max_bars=168, handle_signals=False)
    fills = [e["payload"] for e in read_events(res.run_dir).of_type("fill")]
    entries = [f for f in fills if f["side"] == "buy"]
    assert len(entries) >= 15  # the catch-up traded
    assert max(f["quantity"] * f["price"] for f in fills) <= 22.0
    executed = sum(f["quantity"] * f["price"] + f["fee"] for f in fills)
    counted = budget_from_config(cfg).usage(run_id=res.run_id)["run_notional"]
    assert counted >= executed - 1e-6
