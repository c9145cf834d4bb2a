"""Discovery of the user's strategies: ``[strategies] paths`` folders and the ``peaktrade.strategies``
entry points, their sources in ``strategies list``, errors that name the file, and ``strategies new``."""

from __future__ import annotations

import os
import re
import textwrap

import pytest
from helpers import random_bars

from peaktrade.backtest import run
from peaktrade.errors import StrategyError
from peaktrade.strategies import get_strategy, list_strategies, strategy_source

PANDAS_FILE = '''
import peaktrade.strategies as pts
from peaktrade.strategies.ma_crossover import STRATEGY as LIBRARY_ONE  # imported, not defined here


class Up(pts.PandasStrategy):
    name = "{name}"
    summary = "{summary}"
    params = (pts.Param("w", "int", 5, low=2, high=50, step=1),)

    def signals(self, bars, *, w):
        up = bars["close"] > bars["close"].rolling(w).mean()
        return up & ~up.shift(1, fill_value=False), ~up & up.shift(1, fill_value=False)


class NotAStrategy(pts.PandasStrategy):  # no name, no signals: abstract, never registered
    pass
'''


def write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_get_strategy_when_file_in_strategies_folder_then_found_with_its_path_as_source(cfg):
    folder = cfg.root / "strategies"
    assert cfg.strategy_dirs == [folder]
    path = write(folder, "up_cross.py", PANDAS_FILE.format(name="up_cross", summary="first"))
    write(folder, "_helper.py", "raise RuntimeError('helpers starting with _ are not loaded')")
    s = get_strategy("up_cross", config=cfg)
    assert s.param_names == ("w",) and s.summary == "first"
    assert strategy_source("up_cross") == str(path)
    names = [x.name for x in list_strategies(config=cfg)]
    assert names.count("up_cross") == 1 and names.count("ma_crossover") == 1 and "NotAStrategy" not in names
    assert len(run("up_cross", random_bars(500, seed=2), w=10).trades) > 0
    # an edited file is imported again
    path.write_text(textwrap.dedent(PANDAS_FILE.format(name="up_cross", summary="second")), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert get_strategy("up_cross", config=cfg).summary == "second"


def test_strategy_code_hash_when_user_file_edited_then_changes(cfg):
    from peaktrade.experiments.lookahead import strategy_code_hash

    path = write(cfg.root / "strategies", "hashed.py", PANDAS_FILE.format(name="hashed", summary="v1"))
    before = strategy_code_hash(get_strategy("hashed", config=cfg))
    path.write_text(textwrap.dedent(PANDAS_FILE.format(name="hashed", summary="v1")) + "# edited\n",
                    encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert strategy_code_hash(get_strategy("hashed", config=cfg)) != before


def test_get_strategy_when_file_fails_to_import_then_error_names_path_and_error(cfg, cli):
    folder = cfg.root / "strategies"
    write(folder, "fine.py", PANDAS_FILE.format(name="fine", summary="ok"))
    bad = write(folder, "broken.py", "import peaktrade.strategies as pts\nx = 1 / 0\n")
    with pytest.raises(StrategyError, match=rf"strategy file {bad} failed to import: ZeroDivisionError: division by zero"):
        get_strategy("fine", config=cfg)
    with pytest.raises(StrategyError, match=r"broken\.py failed to import"):
        list_strategies(config=cfg)
    res = cli("strategies", "list")
    assert res.exit_code != 0
    assert "broken.py failed to import: ZeroDivisionError" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert get_strategy("ma_crossover", config=cfg).name == "ma_crossover"  # the library still resolves


def test_discover_when_user_name_taken_by_library_then_error_names_both(cfg):
    path = write(cfg.root / "strategies", "dup.py", PANDAS_FILE.format(name="macd", summary="mine"))
    with pytest.raises(StrategyError, match=rf"strategy name 'macd' from {path} is already taken by library"):
        list_strategies(config=cfg)


def test_discover_when_declaration_invalid_then_error_names_file_and_parameter(cfg):
    path = write(cfg.root / "strategies", "norange.py", PANDAS_FILE.format(name="norange", summary="x")
                 .replace('low=2, high=50, step=1', ''))
    with pytest.raises(StrategyError, match=rf"strategy file {path}: strategy 'norange': parameter 'w' has no search"):
        get_strategy("norange", config=cfg)


def test_get_strategy_when_entry_point_installed_then_found_with_package_source(cfg, tmp_path, monkeypatch):
    site = tmp_path / "site"
    write(site, "acme_strats.py", PANDAS_FILE.format(name="acme_up", summary="from a package"))
    info = site / "acme_strats-1.0.dist-info"
    write(info, "METADATA", "Metadata-Version: 2.1\nName: acme-strats\nVersion: 1.0\n")
    write(info, "entry_points.txt", "[peaktrade.strategies]\nacme = acme_strats\n")
    monkeypatch.syspath_prepend(str(site))
    assert get_strategy("acme_up", config=cfg).summary == "from a package"
    assert strategy_source("acme_up") == "package acme-strats"
    write(info, "entry_points.txt", "[peaktrade.strategies]\nacme = acme_strats:Missing\n")
    with pytest.raises(StrategyError, match=r"entry point acme = acme_strats:Missing of package acme-strats failed "
                                            r"to load: AttributeError"):
        list_strategies(config=cfg)


@pytest.mark.parametrize("level", ["pandas", "numba"])
def test_strategies_new_when_name_given_then_template_backtests_by_name_through_cli(cfg, cli, level):
    name = f"my_{level}_cross"
    res = cli("strategies", "new", name, *(["--numba"] if level == "numba" else []))
    assert res.exit_code == 0, res.stderr
    path = cfg.root / "strategies" / f"{name}.py"
    assert path.is_file() and f"{level} level" in res.stdout
    listed = cli("strategies", "list")
    assert listed.exit_code == 0 and name in listed.stdout
    res = cli("backtest", name, "--exchange", "synthetic", "--param", "fast=10", "--param", "slow=60")
    assert res.exit_code == 0, res.stderr
    assert f"{name} {{'fast': 10, 'slow': 60}} on BTC/USD 1h" in " ".join(res.stdout.split())
    n_trades = re.search(r"n_trades\s*│\s*(\d+)", res.stdout)
    assert n_trades is not None and int(n_trades.group(1)) > 0
    assert get_strategy(name, config=cfg).warmup == 400
    res = cli("sweep", name, "--exchange", "synthetic", "--grid", "fast=5,10", "--grid", "slow=40,80")
    assert res.exit_code == 0, res.stderr
    out = " ".join(res.stdout.split())
    assert "4 combinations × 2,000 bars" in out and "0 skipped by constraints" in out
    shown = cli("strategies", "show", name)
    assert shown.exit_code == 0
    out = " ".join(shown.stdout.split())
    assert "fast: int = 20 in [2, 100] step 2" in out and "warm-up: 400 bars" in out and "fast < slow" in out


def test_strategies_new_when_both_levels_then_same_signals(cfg, cli):
    assert cli("strategies", "new", "pd_level").exit_code == 0
    assert cli("strategies", "new", "nb_level", "--numba").exit_code == 0
    bars = random_bars(2000, seed=5)
    a = run(get_strategy("pd_level", config=cfg), bars, fast=8, slow=40)
    b = run(get_strategy("nb_level", config=cfg), bars, fast=8, slow=40)
    assert len(a.trades) > 0
    assert (a.trades["entry_idx"].to_numpy() == b.trades["entry_idx"].to_numpy()).all()
    assert a.equity.equals(b.equity)


@pytest.mark.parametrize("name,match", [
    ("1bad", r"NAME='1bad' is invalid: expected a Python identifier"),
    ("_hidden", r"NAME='_hidden' is invalid"),
    ("class", r"NAME='class' is invalid"),
    ("macd", r"NAME='macd' is taken by the library strategy"),
])
def test_strategies_new_when_name_invalid_then_one_line_error_and_nothing_written(cfg, cli, name, match):
    res = cli("strategies", "new", name)
    assert res.exit_code != 0
    assert len(res.stderr.strip().splitlines()) == 1
    assert re.search(match, res.stderr), res.stderr
    assert not (cfg.root / "strategies").exists()


def test_strategies_new_when_file_exists_then_refuses_and_keeps_it(cfg, cli):
    path = write(cfg.root / "strategies", "mine.py", "# my work\n")
    res = cli("strategies", "new", "mine")
    assert res.exit_code != 0 and "already exists: refusing to overwrite" in res.stderr
    assert path.read_text(encoding="utf-8") == "# my work\n"


SHORT_FILE = '''
import numpy as np
import peaktrade.strategies as pts


class Down(pts.PandasStrategy):
    name = "down_trend"
    params = (pts.Param("n", "int", 50, low=5, high=500),)
    direction = "short"

    def position(self, bars, *, n):
        return np.where(bars["close"] < bars["close"].rolling(n).mean(), -1.0, 0.0)
'''


def test_strategies_show_and_backtest_when_position_strategy_declares_short_then_shown_and_traded_short(cfg, cli):
    write(cfg.root / "strategies", "down_trend.py", SHORT_FILE)
    shown = cli("strategies", "show", "down_trend")
    assert shown.exit_code == 0 and "direction: short (declared" in shown.stdout
    res = cli("backtest", "down_trend", "--exchange", "synthetic", "--json")
    assert res.exit_code == 0, res.stderr
    import json

    doc = json.loads(res.stdout)
    assert doc["options"]["direction"] == "short", doc["options"]
    bad = cli("backtest", "down_trend", "--exchange", "synthetic", "--direction", "long")
    assert bad.exit_code != 0 and "declares direction='short'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
