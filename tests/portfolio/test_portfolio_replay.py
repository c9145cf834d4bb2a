"""Paper replay of a portfolio through the execution pipeline: fill for fill the backtest on the five real
pairs; safety checks per symbol and in total on one shared ledger."""

from __future__ import annotations

import numpy as np
import pytest

from peaktrade.config import RiskConfig
from peaktrade.errors import BacktestError
from peaktrade.live.portfolio_replay import portfolio_paper_replay
from peaktrade.portfolio import run_portfolio
from peaktrade.safety import RiskLimits

KW = {"fees": 0.0026, "slippage": 0.0005, "init_cash": 10_000.0}


def _same_fills(a, b):
    oa, ob = a.orders, b.orders
    assert len(oa) == len(ob) > 0
    assert (oa["idx"].to_numpy() == ob["idx"].to_numpy()).all()
    assert (oa["symbol"].to_numpy() == ob["symbol"].to_numpy()).all() and (oa["side"] == ob["side"]).all()
    for col in ("size", "price", "fees"):
        np.testing.assert_allclose(ob[col].to_numpy(), oa[col].to_numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("alloc", "execution"), [("equal", "close"), ("inverse_vol", "next_open")])
def test_portfolio_paper_replay_when_five_real_pairs_then_reproduces_the_backtest_fill_for_fill(five_pairs, alloc,
                                                                                                execution):
    kw = {**KW, "alloc": alloc, "rebalance": "1W", "execution": execution, "config": None}
    bt = run_portfolio(five_pairs, **kw)
    paper = portfolio_paper_replay(five_pairs, **kw)
    _same_fills(bt, paper)
    np.testing.assert_allclose(paper.equity.to_numpy(), bt.equity.to_numpy(), rtol=1e-9, atol=0)
    np.testing.assert_allclose(paper.cash.to_numpy(), bt.cash.to_numpy(), rtol=1e-9, atol=1e-7)
    assert paper.denials == [] and paper.options["mode"] == "paper_replay"
    # one ledger: the records' pnl adds up to the account's profit, as the backtest's do
    assert paper.trades["pnl"].sum() == pytest.approx(bt.trades["pnl"].sum(), rel=1e-9)


def test_portfolio_paper_replay_when_limits_per_symbol_and_in_total_then_denied_orders_never_fill(five_pairs):
    bars = {s: b.iloc[-3_000:] for s, b in five_pairs.items()}
    kw = {**KW, "alloc": "equal", "rebalance": "1D", "execution": "close", "config": None}
    xrp = RiskLimits(RiskConfig(max_position_notional=1_000.0))
    total = RiskLimits(RiskConfig(max_total_exposure=8_000.0))
    paper = portfolio_paper_replay(bars, checks=[total], symbol_checks={"XRP/USD": [xrp]}, **kw)
    gates = {d.gate for _, d in paper.denials}
    assert {"max_position_notional", "max_total_exposure"} <= gates
    # at every fill the limits held: XRP's position and the gross exposure at the fill prices
    o = paper.orders
    for i in o.index:
        t = o.at[i, "idx"]
        if o.at[i, "side"] == "buy":
            pos = paper.positions.iloc[t]
            if o.at[i, "symbol"] == "XRP/USD":
                assert pos["XRP/USD"] * o.at[i, "price"] <= 1_000.0 * (1 + 1e-9)
    denied_symbols = {r.symbol for r, d in paper.denials if d.gate == "max_position_notional"}
    assert denied_symbols == {"XRP/USD"}  # the per-symbol limit saw only XRP's orders
    assert len(paper.orders) < len(run_portfolio(bars, **kw).orders)


def test_portfolio_paper_replay_when_sleeves_then_refused_with_the_reason(three_assets):
    bars = {f"{s}/USD": b for s, b in three_assets(100, gaps=False).items()}
    with pytest.raises(BacktestError, match="one shared cash account"):
        portfolio_paper_replay(bars, mode="sleeves", **KW)
