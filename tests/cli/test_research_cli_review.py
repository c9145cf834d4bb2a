"""Review of issue 13: ``--param`` names that are not strategy parameters, ``--json`` with a user strategy that
prints, a --start/--end window without bars, and the config path in the costs line; through the real CLI with
``--config`` of a temp project (a user strategy in its ``strategies/``), on the embedded synthetic data."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

CHATTY = '''
import peaktrade.strategies as pts

print("chatty strategy imported")


class Chatty(pts.PandasStrategy):
    name = "chatty"
    params = (
        pts.Param("fast", "int", 6, low=2, high=10, step=4),
        pts.Param("slow", "int", 20, low=10, high=30, step=10),
    )
    constraints = ("fast < slow",)

    def signals(self, bars, *, fast, slow):
        print(f"chatty signals fast={fast}")
        f = bars["close"].rolling(fast).mean()
        s = bars["close"].rolling(slow).mean()
        above, below = f > s, f < s
        return above & below.shift(1, fill_value=False), below & above.shift(1, fill_value=False)
'''


@pytest.fixture
def pcli(cli, tmp_path, clean_env, monkeypatch):
    """``run(*argv)``: the CLI with ``--config`` of a temp project holding the printing strategy ``chatty``."""
    proj = tmp_path / "proj"
    (proj / "strategies").mkdir(parents=True)
    (proj / "strategies" / "chatty.py").write_text(textwrap.dedent(CHATTY), encoding="utf-8")
    (proj / "config").mkdir()
    config = proj / "config" / "config.toml"
    config.write_text((REPO_ROOT / "config" / "config.test.toml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    def run(*argv: str):
        return cli("--config", str(config), *argv)

    run.config = config  # type: ignore[attr-defined]
    return run


DATA = ("--exchange", "synthetic")


@pytest.mark.parametrize(("argv", "expected"), [
    (("backtest", "chatty", "--param", "fees=0.002"),
     "--param fees=0.002: fees is a backtest option, not a parameter of chatty: use --fees"),
    (("sweep", "chatty", "--param", "slippage=0.001"), "slippage is a backtest option, not a parameter of chatty: "
                                                        "use --slippage"),
    (("backtest", "chatty", "--param", "init_cash=5"), "set it in the config's [backtest] section"),
    (("sweep", "chatty", "--param", "config=1"), "--param config=1: config is an option of the command"),
    (("sweep", "chatty", "--param", "metric=x"), "metric is an option of the command, not a parameter of chatty: "
                                                 "use --metric"),
    (("sweep", "chatty", "--param", "space=x"), "--param space=x: space is a keyword peaktrade sets itself"),
    (("sweep", "chatty", "--grid", "fees=0.001,0.002"), "--grid fees=[0.001, 0.002]: fees is a backtest option"),
    (("walk-forward", "chatty", "--train", "500", "--test", "200", "--param", "train=3"),
     "train is an option of the command, not a parameter of chatty: use --train"),
], ids=["backtest-fees", "sweep-slippage", "init-cash", "config", "metric", "space", "grid-fees", "wf-train"])
def test_param_when_name_clashes_with_an_option_then_one_line_naming_the_option(pcli, argv, expected):
    r = pcli(*argv, *DATA)
    assert r.exit_code == 2, r.stdout
    assert expected in r.stderr and "Traceback" not in r.stderr + r.stdout
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_param_when_name_is_not_a_strategy_parameter_then_did_you_mean_and_the_parameters(pcli):
    r = pcli("backtest", "chatty", *DATA, "--param", "fsat=3")
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert "--param fsat=3: fsat is not a parameter of chatty (did you mean fast?); its parameters: fast, slow" \
        in r.stderr


@pytest.mark.parametrize("argv", [("backtest", "chatty"), ("sweep", "chatty"),
                                  ("walk-forward", "chatty", "--train", "1000", "--test", "500")],
                         ids=["backtest", "sweep", "walk-forward"])
def test_json_when_user_strategy_prints_then_stdout_is_only_the_document(pcli, argv):
    r = pcli(*argv, *DATA, "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)  # the whole of stdout, nothing of the strategy's
    assert doc["strategy"] == "chatty"
    assert "chatty signals" in r.stderr  # its output is kept, on stderr


def test_backtest_when_start_after_the_stored_data_then_error_names_the_stored_span(pcli, cfg):
    r = pcli("backtest", "chatty", *DATA, "--start", "2090-01-01")
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    line = r.stderr.strip()
    assert "0 bar(s) of BTC/USD 1h on synthetic from 2090-01-01: expected at least 2; the stored data spans " in line
    assert "→" in line and "bars)" in line


def test_backtest_json_when_config_inside_the_project_then_options_source_is_relative(pcli):
    r = pcli("backtest", "chatty", *DATA, "--json")
    doc = json.loads(r.stdout)
    assert doc["options_source"] == "config config/config.toml [backtest]"
    assert str(pcli.config.parent) not in r.stdout  # no absolute path of the user's machine
