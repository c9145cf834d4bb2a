"""Issue 13 item 9: the remaining CLI friction (help texts, articles, ports, strategy names), through the real CLI."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest


def test_help_when_default_comes_from_config_then_names_the_section_and_key(cli):
    r = cli("data", "download", "--help")
    assert r.exit_code == 0
    assert "[data] exchange" in " ".join(r.stdout.split())


def test_param_when_int_value_is_not_a_number_then_error_says_an_int(cfg, cli):
    r = cli("backtest", "ma_crossover", "--exchange", "synthetic", "--param", "fast=abc")
    assert r.exit_code != 0
    assert "expected an int" in r.stderr and "expected a int" not in r.stderr


def test_backtest_when_strategy_misspelled_then_did_you_mean(cfg, cli):
    r = cli("backtest", "ma_crosover", "--exchange", "synthetic")
    assert r.exit_code != 0 and "Traceback" not in r.stderr
    assert "unknown strategy 'ma_crosover' (did you mean ma_crossover?)" in r.stderr


def _sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "peaktrade.cli.main", "sim-exchange", "serve", *args],
                          capture_output=True, text=True, timeout=60)


def test_sim_exchange_when_port_out_of_range_then_one_line_and_nonzero_exit():
    r = _sim("--port", "99999")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "--port 99999 is invalid: expected 1-65535" in r.stderr


def test_sim_exchange_when_port_in_use_then_one_line_and_nonzero_exit():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = _sim("--port", str(port))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "in use" in r.stderr


def test_import_when_symbol_written_without_slash_then_one_data_set_named_base_slash_quote(cfg, cli, tmp_path):
    from peaktrade.data import BarStore
    from tests.helpers import random_bars

    path = tmp_path / "bars.csv"
    random_bars(48).to_csv(path, index_label="time")
    first = cli("data", "import", str(path), "--symbol", "BTC/USD", "--timeframe", "1h", "--exchange", "kraken")
    assert first.exit_code == 0, first.stderr
    again = cli("data", "import", str(path), "--symbol", "btcusd", "--timeframe", "1h", "--exchange", "kraken")
    assert again.exit_code == 0, again.stderr
    assert [(m.symbol, m.rows) for m in BarStore(cfg.data_dir).datasets()] == [("BTC/USD", 48)]



@pytest.mark.parametrize("spelling", ["btcusd", "BTC-USD", "btc_usd"])
def test_canonical_symbol_when_pair_has_a_known_quote_then_base_slash_quote(spelling):
    from peaktrade.data.schema import canonical_symbol

    assert canonical_symbol(spelling) == "BTC/USD"
    assert canonical_symbol("BTC-PERP") == "BTC-PERP"  # no known quote: kept as given, not guessed
