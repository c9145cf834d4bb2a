"""execution/assembly.build_pipeline: the one way paper replay, sessions and testnet sessions build a pipeline."""

from __future__ import annotations

import pandas as pd

from peaktrade.backtest.options import BacktestOptions
from peaktrade.execution.assembly import build_pipeline
from peaktrade.orders.paper import PaperExecutor

OPTS = BacktestOptions.parse(init_cash=5_000.0, fees=0.002, fixed_fees=0.5, slippage=0.001, size=0.5,
                             size_type="percent")


def test_build_pipeline_when_no_executor_given_then_paper_executor_with_the_options_costs():
    pipe = build_pipeline("ETH/USD", OPTS.replace(sl_stop=0.05))
    ex = pipe.executor
    assert isinstance(ex, PaperExecutor) and ex.context is pipe.context and pipe.context.symbol == "ETH/USD"
    assert (ex.fees, ex.fixed_fees, ex.slippage) == (0.002, 0.5, 0.001)
    assert pipe.ledger.cash == 5_000.0 and pipe.checks == [] and pipe.symbol == "ETH/USD"
    assert (pipe.sizing.size, pipe.sizing.size_type) == (0.5, "percent")
    assert pipe.stops.sl_stop == 0.05 and pipe.stops.tp_stop is None


def test_build_pipeline_when_executor_factory_given_then_it_gets_the_pipelines_context_and_checks_kept():
    seen = []

    def factory(ctx):
        seen.append(ctx)
        return PaperExecutor(ctx)

    check = object()
    pipe = build_pipeline("BTC/USD", OPTS, checks=[check], executor=factory)
    assert seen == [pipe.context] and pipe.executor.context is pipe.context and pipe.checks == [check]


def test_build_pipeline_when_used_by_replay_and_session_then_same_trades(cfg):
    from peaktrade.data import load_bars
    from peaktrade.live import paper_replay, run_session

    bars = load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg).iloc[:600]
    kw = dict(fees=0.001, slippage=0.0005, init_cash=10_000.0)
    rep = paper_replay("ma_crossover", bars, fast=5, slow=20, **kw)
    ses = run_session("ma_crossover", bars=bars, params={"fast": 5, "slow": 20}, checks=[], config=cfg,
                      handle_signals=False, warmup=0, **kw)
    assert len(rep.trades) == len(ses.trades) > 0
    pd.testing.assert_series_equal(rep.equity.rename(None), ses.equity.rename(None), check_names=False,
                                   check_index=False, check_freq=False)
