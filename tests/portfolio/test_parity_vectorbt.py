"""Parity with vectorbt: equal and fixed weights with calendar rebalancing equal
``Portfolio.from_orders(size_type="targetpercent", group_by=True, cash_sharing=True, call_seq="auto")``
at every bar (close fills, same fees), on the five real Kraken pairs and on small synthetic sets with
missing bars (vectorbt is given NaN order prices where a symbol has no bar: it never trades there and
values the position at the last close, the portfolio's missing-bar policy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from peaktrade.portfolio import calendar_mask, run_portfolio


def _vbt(res, bars, weights, rule, fees, slippage=0.0, init_cash=10_000.0):
    close = pd.DataFrame({s: b["close"] for s, b in bars.items()}).reindex(res.index)
    size = pd.DataFrame(np.nan, index=res.index, columns=close.columns)
    size[calendar_mask(res.index, rule)] = [weights[s] for s in close.columns]
    return vbt.Portfolio.from_orders(close=close.ffill(), price=close, size=size, size_type="targetpercent",
                                     group_by=True, cash_sharing=True, call_seq="auto", fees=fees,
                                     slippage=slippage, init_cash=init_cash, freq="1h")


def _assert_same(res, pf):
    np.testing.assert_allclose(res.equity.to_numpy(), pf.value().to_numpy(), rtol=1e-9, atol=0)
    np.testing.assert_allclose(res.cash.to_numpy(), pf.cash().to_numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.positions.to_numpy(), pf.assets().to_numpy(), rtol=1e-9, atol=1e-12)
    assert len(res.orders) == len(pf.orders.records)


@pytest.mark.parametrize("alloc", ["equal", "fixed"])
def test_run_portfolio_when_five_real_pairs_calendar_rebalanced_then_equals_vectorbt_at_every_bar(five_pairs, alloc):
    syms = list(five_pairs)
    weights = ({s: 0.2 for s in syms} if alloc == "equal"
               else dict(zip(syms, (0.4, 0.25, 0.15, 0.1, 0.05), strict=True)))
    rule = "1W" if alloc == "equal" else "1M"
    kw = {"weights": weights} if alloc == "fixed" else {}
    res = run_portfolio(five_pairs, alloc=alloc, rebalance=rule, fees=0.0026, slippage=0.0, execution="close",
                        init_cash=10_000.0, **kw)
    assert len(res.index) > 40_000 and len(res.orders) > 100
    _assert_same(res, _vbt(res, five_pairs, weights, rule, 0.0026))


@pytest.mark.parametrize("rule", ["1D", "1W"])
def test_run_portfolio_when_symbols_miss_bars_then_equals_vectorbt_with_nan_prices(rule, three_assets):
    bars = three_assets(900)
    # C misses the bar of a rebalance: it must not trade there, and vectorbt must agree
    idx = bars["A"].index
    reb = idx[calendar_mask(idx, rule)]
    bars["C"] = bars["C"].drop(reb[3], errors="ignore")
    weights = {"A": 0.5, "B": 0.3, "C": 0.2}
    res = run_portfolio(bars, alloc="fixed", weights=weights, rebalance=rule, fees=0.001, slippage=0.0005,
                        execution="close", init_cash=1_000.0)
    assert res.skipped["no_bar"] >= 1
    assert not ((res.orders["symbol"] == "C") & (res.orders["time"] == reb[3] + pd.Timedelta("1h"))).any()
    _assert_same(res, _vbt(res, bars, weights, rule, 0.001, 0.0005, 1_000.0))
