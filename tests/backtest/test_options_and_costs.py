"""BacktestOptions (one typed owner of the backtest's options) and Costs (one cost model)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from helpers import random_bars

from peaktrade import backtest
from peaktrade.backtest import BacktestOptions, Costs, from_signals, run
from peaktrade.backtest.options import OPTION_NAMES
from peaktrade.config import BacktestConfig, Config
from peaktrade.errors import BacktestError
from peaktrade.execution.pipeline import SizingModel
from peaktrade.orders.model import OrderRequest
from peaktrade.orders.paper import PaperExecutor, PaperMarketContext

from .conftest import bars_from


@pytest.mark.parametrize("kw, words", [
    ({"fees": 1.5}, ["fees=1.5", "[0, 1.0)"]),
    ({"slippage": -0.1}, ["slippage=-0.1"]),
    ({"fixed_fees": -1.0}, ["fixed_fees=-1.0", "non-negative"]),
    ({"init_cash": 0}, ["init_cash=0", "positive"]),
    ({"execution": "later"}, ["execution='later'", "'next_open'"]),
    ({"direction": "up"}, ["direction='up'", "'both'"]),
    ({"size": 2.0}, ["size=2.0", "(0, 1]"]),
    ({"size_type": "kelly"}, ["size_type='kelly'", "'vol_target'"]),
    ({"size_type": "vol_target", "size": 0.2, "vol_window": 1}, ["vol_window=1", "integer >= 2"]),
    ({"sl_stop": 1.5}, ["sl_stop=1.5"]),
    ({"stop_priority": "both"}, ["stop_priority='both'"]),
    ({"fess": 0.1}, ["unknown option(s) fess", "fees"]),
])
def test_parse_when_an_option_is_bad_then_error_names_the_option_and_its_value(kw, words):
    with pytest.raises(BacktestError) as e:
        BacktestOptions.parse(**kw)
    for w in words:
        assert w in str(e.value)


def test_options_when_built_then_frozen_keyword_only_and_grouped():
    o = BacktestOptions.parse(fees=0.001, fixed_fees=1.0, slippage=0.0005, size=0.5, sl_stop=0.05, execution="close")
    assert o.costs == Costs(fees=0.001, fixed_fees=1.0, slippage=0.0005)
    assert (o.sizing.size, o.sizing.size_type) == (0.5, "percent")
    assert (o.stops.sl_stop, o.stops.tp_stop) == (0.05, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.init_cash = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        Costs(0.001)  # type: ignore[misc]  (keyword-only)
    assert list(o.to_dict()) == list(OPTION_NAMES)
    assert BacktestOptions.parse(**o.to_dict()) == o
    assert "sl_stop" not in o.to_dict(stops=False)


def test_from_config_when_overrides_given_then_they_win_over_the_config_backtest_section():
    cfg = Config(backtest=BacktestConfig(init_cash=5_000.0, fees=0.003, slippage=0.001, execution="close"))
    o = BacktestOptions.from_config(cfg, fees=0.0, direction="both")
    assert (o.init_cash, o.costs.fees, o.costs.slippage, o.execution, o.direction) == (5_000.0, 0.0, 0.001, "close",
                                                                                        "both")
    # every option the [backtest] section holds is merged there, and the section holds nothing else
    assert set(BacktestConfig.model_fields) <= set(OPTION_NAMES)


def test_backtest_api_when_listed_then_no_sim_named_option_names_remain():
    # "sim" is the exchange simulator (peaktrade.sim); the backtest's options have their own names
    from peaktrade.backtest import engine
    from peaktrade.strategies import base, get_strategy

    for mod in (backtest, engine, base):
        assert not [n for n in dir(mod) if n.upper().startswith("SIM_") or n == "sim_params"], mod.__name__
    assert get_strategy("breakout").stop_defaults == {"sl_stop": 0.05, "tp_stop": 0.15, "sl_trail": 0.08}


def test_run_when_options_given_then_result_options_are_the_parsed_flat_options():
    b = random_bars(300, seed=1)
    res = run("ma_crossover", b, fast=5, slow=20, fees=0.001, slippage=0.0002, sl_stop=0.05)
    assert res.options == BacktestOptions.parse(fees=0.001, slippage=0.0002, sl_stop=0.05).to_dict()


def test_cost_model_when_kernel_paper_executor_and_sizing_price_one_entry_then_all_agree_exactly():
    costs = Costs(fees=0.0026, fixed_fees=0.5, slippage=0.001)
    b = bars_from([(100, 101, 99, 100), (103, 104, 102, 103), (104, 105, 103, 104), (105, 106, 104, 105)])
    entries = np.array([True, False, False, False])
    exits = np.zeros(4, dtype=bool)
    res = from_signals(b["close"], entries, exits, open=b["open"], high=b["high"], low=b["low"], init_cash=1_000.0,
                       fees=costs.fees, fixed_fees=costs.fixed_fees, slippage=costs.slippage, size=0.5)
    tr = res.trades.iloc[0]
    fill = costs.fill_price("buy", 103.0)
    assert fill == 103.0 * (1 + 0.001)
    assert tr["entry_price"] == fill
    sizing = SizingModel(0.5, "percent", costs.fees, costs.fixed_fees, costs.slippage)
    units = sizing.quantity(1_000.0, 103.0, "buy")
    assert tr["size"] == units  # the pipeline sizes as the kernel did
    ctx = PaperMarketContext("BTC/USD", price=103.0)
    paper = PaperExecutor(ctx, fees=costs.fees, fixed_fees=costs.fixed_fees, slippage=costs.slippage)
    f = paper.submit(OrderRequest("BTC/USD", "buy", units)).fills[0]
    assert f.price == fill
    assert f.fee == costs.fee(units * fill) == pytest.approx(tr["entry_fees"], rel=1e-12)
    # the entry's budget is spent exactly: notional plus its fees
    assert units * fill + f.fee == pytest.approx(500.0, rel=1e-12)


def test_executable_price_when_limit_above_market_then_bounded_by_limit_plus_fees_per_unit():
    costs = Costs(fees=0.01, fixed_fees=2.0, slippage=0.001)
    assert costs.executable_price(100.0, quantity=4.0) == pytest.approx(100.1 * 1.01 + 0.5)
    assert costs.executable_price(100.0, quantity=4.0, limit_price=105.0) == pytest.approx(105.0 * 1.01 + 0.5)
    assert math.isnan(costs.executable_price(float("nan"), quantity=1.0))
    req = OrderRequest("BTC/USD", "sell", 4.0, type="limit", limit_price=105.0)
    paper = PaperExecutor(PaperMarketContext("BTC/USD", price=100.0), fees=0.01, fixed_fees=2.0, slippage=0.001)
    assert paper.executable_price(req) == pytest.approx(105.0 * 1.01 + 0.5)  # the executor passes its costs
