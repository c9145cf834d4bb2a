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
