"""log_portfolio: a portfolio backtest as an MLflow run in the real SQLite store, with its HTML report."""

from __future__ import annotations

import pytest
from helpers import random_bars

from peaktrade.portfolio import run_portfolio
from peaktrade.tracking import artifact_files, log_portfolio


@pytest.fixture(scope="module")
def pres():
    bars = {s: random_bars(400, seed=i, vol=0.01) for i, s in enumerate(("BTC/USD", "ETH/USD"))}
    return run_portfolio(bars, alloc="inverse_vol", lookback=48, rebalance="1D", fees=0.001, execution="close",
                         init_cash=1000.0)


def test_log_portfolio_when_store_is_writable_then_run_has_params_metrics_result_and_report(tcfg, client, pres):
    run_id = log_portfolio(pres, config=tcfg, timeframe="1h", exchange="synthetic")
    assert run_id
    run = client.get_run(run_id)
    assert run.data.params["alloc"] == "inverse_vol" and run.data.params["rebalance"] == "1D"
    assert run.data.params["symbols"] == "BTC/USD,ETH/USD" and run.data.params["backtest.fees"] == "0.001"
    assert run.data.metrics["turnover"] == pytest.approx(pres.stats()["turnover"])
    assert run.data.metrics["final_equity"] == pytest.approx(pres.equity.iloc[-1])
    files = artifact_files(run_id, config=tcfg)
    assert {"result/orders.parquet", "result/weights.parquet", "report/report.html"} <= set(files)
    local = client.download_artifacts(run_id, "report/report.html")
    text = open(local, encoding="utf-8").read()
    assert 'id="section-portfolio"' in text and "contribution to the total return" in text
    assert 'data-figure="portfolio"' in text

