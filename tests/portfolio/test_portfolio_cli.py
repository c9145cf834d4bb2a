"""``peaktrade portfolio run``: on the five real Kraken pairs imported into a store, the offline synthetic
default, and bad input (one line, exit 2)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def real_store(cfg, shared_data):
    """The test config's store holding the five real hourly pairs (imported like `peaktrade data import`)."""
    from peaktrade.data import import_file

    for sym, stem in {"BTC/USD": "XBT", "ETH/USD": "ETH", "LTC/USD": "LTC", "XRP/USD": "XRP", "BCH/USD": "BCH"}.items():
        import_file(shared_data / f"{stem}USD_60.csv.gz", symbol=sym, timeframe="1h", exchange="kraken", config=cfg)
    return cfg


def test_portfolio_run_when_five_real_pairs_then_json_equals_the_api_and_text_names_contributions(cli, real_store,
                                                                                                  five_pairs):
    from peaktrade.portfolio import run_portfolio

    syms = ",".join(five_pairs)
    args = ["portfolio", "run", "--symbols", syms, "--timeframe", "1h", "--exchange", "kraken", "--alloc",
            "inverse_vol", "--rebalance", "1W", "--start", "2017-08-01 16:00", "--end", "2022-07-01",
            "--execution", "close", "--fees", "0.0026", "--slippage", "0"]
    r = cli(*args, "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    api = run_portfolio(five_pairs, alloc="inverse_vol", rebalance="1W", execution="close", fees=0.0026,
                        slippage=0.0, config=real_store)
    assert doc["bars"] == len(api.index) > 40_000
    assert doc["stats"]["final_equity"] == pytest.approx(api.equity.iloc[-1], rel=1e-12)
    assert doc["stats"]["n_orders"] == len(api.orders)
    assert sum(doc["contribution"].values()) == pytest.approx(doc["stats"]["total_return"], rel=1e-9)
    assert doc["alloc"]["alloc"] == "inverse_vol" and doc["exchange"] == "kraken"
    gated = cli(*args[:-6], "--strategy", "ma_crossover", "--param", "fast=24", "--param", "slow=120",
                "--rebalance", "1W")
    assert gated.exit_code == 0, gated.stderr
    assert "contribution: BTC/USD" in gated.stdout and "turnover" in gated.stdout
    assert "costs: fees" in gated.stdout and "[backtest]" in gated.stdout  # the config's costs, stated


def test_portfolio_run_when_no_symbols_then_runs_offline_on_the_seeded_synthetic_set(cli, cfg):
    r = cli("portfolio", "run", "--rebalance", "1M", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["exchange"] == "synthetic" and doc["symbols"] == ["BTC/USD", "ETH/USD", "LTC/USD"]
    assert 0.3 < doc["stats"]["avg_correlation"] < 0.9  # correlated, not identical
    again = json.loads(cli("portfolio", "run", "--rebalance", "1M", "--json").stdout)
    assert again["stats"] == doc["stats"]  # seeded


@pytest.mark.parametrize(("extra", "needle"), [
    (["--alloc", "magic"], "alloc='magic'"),
    (["--rebalance", "2W"], "rebalance='2W'"),
    (["--alloc", "fixed", "--weights", "BTC/USD=abc"], "--weights"),
    (["--symbols", "BTC/USD,BTC/USD"], "distinct symbols"),
])
def test_portfolio_run_when_bad_input_then_one_line_and_exit_2(cli, cfg, extra, needle):
    r = cli("portfolio", "run", *extra)
    assert r.exit_code == 2
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
