"""Issue 13 item 9: the remaining CLI friction (help texts, articles, ports, strategy names), through the real CLI."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

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


# -- experiment run --dry-run: inputs checked against the notebook, the registry and the store ------------------
ROOT = Path(__file__).resolve().parents[2]


def _spec(tmp_path: Path, body: str, *, where: str = "experiments", notebook: str | None = None) -> Path:
    d = tmp_path / where
    d.mkdir(parents=True, exist_ok=True)
    nb = notebook or str(ROOT / "notebooks" / "10-backtest.ipynb")
    spec = d / "t.toml"
    spec.write_text(f'name = "t"\nnotebook = "{nb}"\n' + body)
    return spec


@pytest.mark.parametrize("body,needle", [
    ('[parameters]\nfees = "cheap"\n', "fees = 'cheap' is invalid: expected a float (10-backtest.ipynb declares "
                                       "fees: float)"),
    ('[data]\nexchange = "synthetic"\n[parameters]\nstrategy = "ma_crosover"\n',
     "strategy = 'ma_crosover' is invalid: unknown strategy 'ma_crosover' (did you mean ma_crossover?)"),
    ('[data]\nexchange = "kraken"\nsymbol = "DOGE/EUR"\n',
     "symbol = 'DOGE/EUR' is not in the store for kraken: stored symbols: BTC/USD"),
])
def test_experiment_dry_run_when_spec_value_is_wrong_then_one_line_naming_file_key_value(cfg, cli, tmp_path, body,
                                                                                          needle):
    from peaktrade.data import BarStore
    from tests.helpers import random_bars

    BarStore(cfg.data_dir).write("kraken", "BTC/USD", "1h", random_bars(50), source="test")
    spec = _spec(tmp_path, body)
    r = cli("experiment", "run", str(spec), "--dry-run")
    assert r.exit_code != 0 and "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(spec) in lines[0] and needle in lines[0], r.stderr


def test_experiment_dry_run_when_spec_outside_experiments_then_notebook_found_beside_it(cfg, cli, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(ROOT / "notebooks" / "10-backtest.ipynb", tmp_path / "elsewhere" / "nb.ipynb")
    spec = _spec(tmp_path, '[data]\nexchange = "synthetic"\n', where="elsewhere", notebook="nb.ipynb")
    r = cli("experiment", "run", str(spec), "--dry-run")
    assert r.exit_code == 0, r.stderr
    assert "1 run(s) of nb.ipynb" in " ".join(r.stdout.split())


def test_experiment_dry_run_when_notebook_missing_then_error_says_where_it_looked(cfg, cli, tmp_path):
    spec = _spec(tmp_path, "", where="a/b", notebook="notebooks/none.ipynb")
    r = cli("experiment", "run", str(spec), "--dry-run")
    assert r.exit_code != 0 and "Traceback" not in r.stderr
    looked = " ".join(r.stderr.split())
    assert f"looked at {tmp_path / 'a' / 'b' / 'notebooks' / 'none.ipynb'} and {tmp_path / 'a' / 'notebooks'}" in looked
