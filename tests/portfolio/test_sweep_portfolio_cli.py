"""``peaktrade portfolio sweep`` and ``portfolio walk-forward``: --json equals the API on the same bars, the text
states DSR, PBO and costs, bad input is one line with exit 2."""

from __future__ import annotations

import json

import pytest

WINDOW = ["--start", "2021-01-01", "--end", "2021-02-15"]
GRID = ["--alloc", "inverse_vol", "--grid", "lookback=48,168", "--grid", "rebalance=1D,1W", "--execution", "close"]


def test_portfolio_sweep_when_json_then_rows_equal_the_api_and_text_states_dsr_pbo_and_costs(cli, cfg):
    from peaktrade.experiments.portfolio import portfolio_overfitting
    from peaktrade.portfolio import load_universe
    from peaktrade.portfolio.sweep import sweep_portfolio

    r = cli("portfolio", "sweep", *WINDOW, *GRID, "--metric", "sharpe", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["command"] == "portfolio sweep" and doc["exchange"] == "synthetic"
    assert doc["grid"] == {"rebalance": ["1D", "1W"], "lookback": [48, 168]} and doc["combinations"] == 4
    bars = load_universe("BTC/USD,ETH/USD,LTC/USD", "1h", exchange="synthetic", start="2021-01-01", end="2021-02-15",
                         config=cfg)
    api = sweep_portfolio(bars, alloc="inverse_vol", rebalance=["1D", "1W"], lookback=[48, 168], execution="close",
                          config=cfg)
    ranked = api.table.sort_values("sharpe", ascending=False)
    assert [(d["rebalance"], d["lookback"]) for d in doc["top"]] == list(zip(ranked["rebalance"], ranked["lookback"],
                                                                             strict=True))
    assert [d["final_equity"] for d in doc["top"]] == pytest.approx(list(ranked["final_equity"]), rel=1e-12)
    ov = portfolio_overfitting(api, bars, config=cfg)
    assert doc["overfitting"]["dsr"] == pytest.approx(ov["dsr"], rel=1e-12)
    assert doc["overfitting"]["pbo"] == ov["pbo"] and doc["overfitting"]["n_trials"] == 4
    text = cli("portfolio", "sweep", *WINDOW, *GRID)
    assert text.exit_code == 0, text.stderr
    assert "DSR " in text.stdout and "PBO " in text.stdout and "costs: fees" in text.stdout
    assert "4 combinations" in text.stdout


def test_portfolio_walk_forward_when_json_then_folds_and_stitched_stats(cli, cfg):
    r = cli("portfolio", "walk-forward", "--train", "20D", "--test", "10D", *WINDOW, *GRID, "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["command"] == "portfolio walk-forward" and doc["symbols"] == ["BTC/USD", "ETH/USD", "LTC/USD"]
    assert len(doc["folds"]) == 2 and doc["params"] == ["rebalance", "lookback"]
    assert all(f["rebalance"] in ("1D", "1W") and f["n_combos"] == 4 for f in doc["folds"])
    assert doc["stats"]["final_equity"] == pytest.approx(doc["folds"][-1]["test_final_equity"], rel=1e-12)


@pytest.mark.parametrize(("extra", "needle"), [
    (["--grid", "fees=0.001,0.002"], "fees is a backtest option"),
    (["--grid", "rebalance=1D,2W"], "rebalance='2W'"),
    (["--metric", "bogus"], "--metric 'bogus'"),
    (["--grid", "lookback=24,48", "--alloc-param", "lookback=24"], "both given"),
])
def test_portfolio_sweep_when_bad_input_then_one_line_and_exit_2(cli, cfg, extra, needle):
    r = cli("portfolio", "sweep", *WINDOW, "--alloc", "inverse_vol", *extra)
    assert r.exit_code == 2, r.stdout
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
