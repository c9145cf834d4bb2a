"""Issue 13 item 8: the trading side works out of the box against the local simulator.

Every test runs the real CLI against a real Kraken-protocol simulator over HTTP (started in the test),
with the SHIPPED config (copied into a temporary project so its relative paths land there).
"""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

import peaktrade.sim as sim
from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "config.toml"


@pytest.fixture
def shipped(tmp_path, clean_env, monkeypatch) -> Path:
    """The shipped config in a fresh project directory (the working directory of the test)."""
    project = tmp_path / "project"
    project.mkdir()
    config = project / "config.toml"
    shutil.copyfile(SHIPPED, config)
    monkeypatch.chdir(project)
    return config


def _server(speed: float):
    ex = sim.SimExchange(keys={DEFAULT_SIM_API_KEY: DEFAULT_SIM_API_SECRET}, seed=3, speed=speed, tier="pro")
    return sim.serve_in_thread(ex)


def test_testnet_orchestrate_when_shipped_config_then_runs_offline_against_the_simulator(
        cli, shipped, clean_env):
    with _server(0.0) as srv:
        # the shipped config's only change: the simulator's address (the test's server listens on a free port)
        clean_env.setenv("PEAKTRADE__TESTNET__SIM_URL", srv.url)
        r = cli("--config", str(shipped), "testnet", "orchestrate", "--profile", "sma-btc-1m",
                "--catch-up", "60", "--max-bars", "60")
        assert r.exit_code == 0, r.stderr + r.stdout
        assert ": completed" in r.stdout
        bars = re.search(r"bars\s+(\d+)", r.stdout)
        assert bars and int(bars.group(1)) > 0, r.stdout
        # the orders went to the simulator (kraken-sim is the shipped mode), within the shipped limits
        orders = list(srv.exchange.orders.values())
        assert orders and f"orders / fills / denials  {len(orders)} / {len(orders)} /" in r.stdout


def test_shipped_config_when_loaded_then_every_risk_limit_is_set_and_small():
    from peaktrade.config import load_config

    cfg = load_config(SHIPPED)
    assert cfg.risk.missing_limits() == []
    cfg.risk.require_limits_for("testnet")  # does not raise
    assert cfg.risk.max_order_notional <= cfg.testnet.max_run_notional
    assert cfg.testnet.mode == "kraken-sim"
    assert cfg.live.enabled is False


def test_data_download_when_venue_sim_then_bars_are_stored_under_sim(cli, shipped):
    from peaktrade.config import load_config
    from peaktrade.data import BarStore

    with _server(0.0) as srv:
        r = cli("--config", str(shipped), "data", "download", "--venue", "sim", "--sim-url", srv.url,
                "-s", "BTC/USD", "-t", "1m", "--no-progress")
    assert r.exit_code == 0, r.stderr + r.stdout
    bars = BarStore(load_config(shipped).data_dir).read("sim", "BTC/USD", "1m")
    assert len(bars) > 100
    assert (bars["high"] >= bars["low"]).all()


def test_data_download_when_exchange_unreachable_then_error_says_start_the_simulator(cli, shipped):
    with _server(0.0) as srv:
        url = srv.url  # a port that was free and is closed again
    r = cli("--config", str(shipped), "data", "download", "--venue", "sim", "--sim-url", url,
            "-s", "BTC/USD", "-t", "1m", "--no-progress")
    assert r.exit_code != 0
    assert "peaktrade sim-exchange serve" in r.stderr and "Traceback" not in r.stderr
    # the default venue (the exchange) names the simulator and --venue sim as the offline way
    from peaktrade.adapters.kraken import unreachable_hint

    hint = unreachable_hint("exchange", sim_url=url)
    assert "--venue sim" in hint and "peaktrade sim-exchange serve" in hint


@pytest.mark.parametrize("argv", [["shadow", "run"], ["paper", "run", "--poll-exchange"]])
def test_session_when_venue_sim_then_polled_bars_are_processed(cli, shipped, argv):
    with _server(20.0) as srv:
        r = cli("--config", str(shipped), *argv, "--strategy", "ma_crossover", "--timeframe", "1m",
                "--venue", "sim", "--sim-url", srv.url, "--poll", "0.5", "--max-bars", "2", "--quiet")
    assert r.exit_code == 0, r.stderr + r.stdout
    assert ": completed" in r.stdout
    assert re.search(r"bars\s+2 \(", r.stdout), r.stdout


def test_session_when_venue_sim_without_polling_then_one_line_error(cli, shipped):
    r = cli("--config", str(shipped), "paper", "run", "--strategy", "ma_crossover", "--replay", ":",
            "--venue", "sim")
    assert r.exit_code != 0 and "--poll-exchange" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("doc", ["docs/testnet.md", "docs/simulator.md"])
def test_docs_when_naming_simulator_credentials_then_they_equal_the_code(doc):
    text = (REPO / doc).read_text(encoding="utf-8")
    assert DEFAULT_SIM_API_KEY in text and DEFAULT_SIM_API_SECRET in text
    # no other key or base64 secret is shown as the simulator's
    assert "demo-key" not in text
    secrets = set(re.findall(r"[A-Za-z0-9+/]{40,}={1,2}", text))
    assert secrets <= {DEFAULT_SIM_API_SECRET}, secrets
    config = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    assert config["testnet"]["sim_url"] in text or config["testnet"]["sim_url"].rsplit(":", 1)[1] in text


def test_risk_applies_to_when_testnet_or_live_left_out_then_config_is_refused():
    from pydantic import ValidationError

    from peaktrade.config import RiskConfig

    for bad in (["paper", "shadow"], ["paper", "testnet"], ["live"]):
        with pytest.raises(ValidationError, match="must include 'testnet' and 'live'"):
            RiskConfig(max_order_notional=1.0, applies_to=bad)
    risk = RiskConfig(max_order_notional=100.0, applies_to=["testnet", "live"])
    assert risk.for_environment("testnet") is risk and risk.for_environment("live") is risk
    assert risk.for_environment("paper").max_order_notional is None


def test_paper_replay_when_shipped_config_then_research_orders_are_not_capped_by_testnet_limits(cli, shipped):
    r = cli("--config", str(shipped), "paper", "run", "--strategy", "ma_crossover", "--exchange", "synthetic",
            "--param", "fast=10", "--param", "slow=50", "--replay", "2020-01-01:2020-02-01", "--quiet")
    assert r.exit_code == 0, r.stderr + r.stdout
    m = re.search(r"orders / fills / denials\s+(\d+) / (\d+) / (\d+)", r.stdout)
    assert m and int(m.group(1)) > 0 and m.group(3) == "0", r.stdout
