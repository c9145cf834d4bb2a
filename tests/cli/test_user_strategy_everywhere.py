"""A user strategy (a file in the project's ``strategies/`` folder) through the real CLI, run from
another directory with ``--config``: backtest, sweep over its declared space, walk-forward, the
lookahead check, ``paper run`` (replay and polling), ``shadow run`` and a testnet profile against
the local simulator. The strategy folder resolves against the project root, never the cwd."""

from __future__ import annotations

import re
import sys
import textwrap
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from peaktrade.live.runlog import list_runs, read_meta

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "live"))

from live_session_helpers import FakeExchange  # noqa: E402
from testnet_helpers import write_testnet_config  # noqa: E402

USER_STRATEGY = '''
import peaktrade.strategies as pts


class UserCross(pts.PandasStrategy):
    name = "user_cross"
    summary = "SMA crossover written by a user"
    params = (
        pts.Param("fast", "int", 6, low=2, high=10, step=4, help="fast window"),
        pts.Param("slow", "int", 20, low=10, high=30, step=10, help="slow window"),
    )
    constraints = ("fast < slow",)
    warmup = 30

    def signals(self, bars, *, fast, slow):
        f = bars["close"].rolling(fast).mean()
        s = bars["close"].rolling(slow).mean()
        above, below = f > s, f < s
        return above & below.shift(1, fill_value=False), below & above.shift(1, fill_value=False)


class Peeking(pts.PandasStrategy):
    name = "user_peeking"
    params = (pts.Param("w", "int", 5, low=2, high=20),)

    def signals(self, bars, *, w):
        nxt = bars["close"].shift(-1)  # tomorrow's close: lookahead
        return (nxt > bars["close"]).fillna(False), (nxt < bars["close"]).fillna(False)
'''


def _project(tmp_path: Path, config: Path | None = None) -> Path:
    """Write a project (config/config.toml with relative paths, strategies/user_cross.py); return its config."""
    proj = tmp_path / "proj"
    (proj / "strategies").mkdir(parents=True)
    (proj / "strategies" / "user_cross.py").write_text(textwrap.dedent(USER_STRATEGY), encoding="utf-8")
    (proj / "config").mkdir()
    path = proj / "config" / "config.toml"
    if config is not None:
        path.write_text(config.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        path.write_text((REPO_ROOT / "config" / "config.test.toml").read_text(encoding="utf-8"), encoding="utf-8")
    return path


@pytest.fixture
def ucli(cli, tmp_path, clean_env, monkeypatch):
    """``run(*argv)``: the CLI with ``--config`` of a temp project, run from an unrelated directory."""
    config = _project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    def run(*argv: str):
        return cli("--config", str(config), *argv)

    run.root = config.parent.parent  # type: ignore[attr-defined]
    return run


DATA = ("--exchange", "synthetic")


def test_backtest_when_user_strategy_run_from_another_directory_then_found_in_project_folder(ucli):
    r = ucli("backtest", "user_cross", *DATA, "--param", "fast=2")
    assert r.exit_code == 0, r.stderr
    assert "user_cross {'fast': 2, 'slow': 20}" in r.stdout and "n_trades" in r.stdout


def test_sweep_when_no_grid_then_declared_space_swept_and_constraint_skips(ucli, tmp_path):
    out = tmp_path / "table.csv"
    r = ucli("sweep", "user_cross", *DATA, "--out", str(out))
    assert r.exit_code == 0, r.stderr
    assert "declared search space: fast=2,6,10, slow=10,20,30" in r.stdout
    assert "1 skipped by constraints" in " ".join(r.stdout.split())  # fast=10, slow=10 (rich wraps lines)
    table = pd.read_csv(out)
    assert sorted(zip(table["fast"], table["slow"])) == [(f, s) for f in (2, 6, 10) for s in (10, 20, 30) if f < s]


def test_sweep_when_param_given_without_grid_then_it_is_fixed_in_the_declared_space(ucli, tmp_path):
    out = tmp_path / "table.csv"
    r = ucli("sweep", "user_cross", *DATA, "--param", "fast=6", "--out", str(out))
    assert r.exit_code == 0, r.stderr
    table = pd.read_csv(out)
    assert list(table["fast"]) == [6, 6, 6] and list(table["slow"]) == [10, 20, 30]


def test_sweep_when_param_conflicts_with_grid_then_one_line_error(ucli):
    r = ucli("sweep", "user_cross", *DATA, "--grid", "fast=2,6", "--param", "fast=6")
    assert r.exit_code == 2 and "--param fast=6 conflicts with --grid fast" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_walk_forward_when_user_strategy_without_grid_then_folds_choose_from_declared_space(ucli):
    r = ucli("walk-forward", "user_cross", *DATA, "--train", "800", "--test", "400")
    assert r.exit_code == 0, r.stderr
    assert "walk-forward user_cross" in r.stdout and "3 folds" in r.stdout
    assert "out-of-sample" in r.stdout and "total_return" in r.stdout


def test_lookahead_when_user_strategies_checked_then_clean_passes_and_peeking_fails_naming_it(ucli):
    ok = ucli("lookahead", "user_cross", *DATA, "--end", "2020-02-01")
    assert ok.exit_code == 0, ok.stderr
    assert "strategy 'user_cross' passed the lookahead check" in " ".join(ok.stdout.split())
    bad = ucli("lookahead", "user_peeking", *DATA, "--end", "2020-02-01")
    assert bad.exit_code == 1, bad.stderr
    assert "strategy 'user_peeking'" in bad.stdout and "reads the future" in " ".join(bad.stdout.split())


def test_paper_run_replay_when_user_strategy_then_session_trades_it(ucli):
    r = ucli("paper", "run", "--strategy", "user_cross", *DATA, "--replay", "2020-01-10:2020-02-10",
             "--warmup", "48")
    assert r.exit_code == 0, r.stderr
    (info,) = list_runs(ucli.root / ".pytest-runs")
    meta = read_meta(info.run_dir)
    assert meta["strategy"] == "user_cross" and meta["summary"]["n_trades"] > 0
    assert f"paper run {info.run_id}: completed" in r.stdout


def _fake_venue(monkeypatch, bars: pd.DataFrame, at: int) -> FakeExchange:
    """Serve ``bars`` as a polled venue whose clock is 30 minutes into bar ``at`` (a fake clock)."""
    fake = FakeExchange(bars, now=bars.index[at] + pd.Timedelta(minutes=30))
    monkeypatch.setattr("peaktrade.adapters.kraken.public_client", lambda exchange_id="kraken", **kw: fake)
    monkeypatch.setattr("peaktrade.live.feeds.Clock.pause", lambda self, s: fake.sleep(s))
    return fake


@pytest.mark.parametrize("command", ["paper", "shadow"])
def test_polled_session_when_user_strategy_then_each_bar_processed_with_its_signals(ucli, monkeypatch, command):
    from peaktrade.config import load_config
    from peaktrade.data import load_bars

    cfg = load_config(ucli.root / "config" / "config.toml")
    bars = load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg).iloc[:400]
    _fake_venue(monkeypatch, bars, 100)
    argv = ["--poll-exchange"] if command == "paper" else []
    r = ucli(command, "run", "--strategy", "user_cross", "--exchange", "kraken", *argv, "--max-bars", "250",
             "--warmup", "60")
    assert r.exit_code == 0, r.stderr
    assert f"{command} session" in r.stdout and r.stdout.count("\nbar 2020-") == 250
    (info,) = list_runs(cfg.runs_dir)
    meta = read_meta(info.run_dir)
    assert meta["mode"] == "poll" and meta["strategy"] == "user_cross" and meta["summary"]["n_fills"] > 0


@pytest.fixture
def sim_server():
    import peaktrade.sim as sim
    from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET

    ex = sim.SimExchange(keys={DEFAULT_SIM_API_KEY: DEFAULT_SIM_API_SECRET}, seed=5, speed=0.0, tier="pro")
    with sim.serve_in_thread(ex) as srv:
        yield srv


def test_testnet_orchestrate_when_profile_runs_user_strategy_then_orders_fill_at_the_simulator(
        cli, tmp_path, clean_env, monkeypatch, sim_server):
    (tmp_path / "cfg").mkdir()
    made = write_testnet_config(tmp_path / "cfg", testnet={"mode": "kraken-sim", "sim_url": sim_server.url},
                                profiles={"mine": {"strategy": "user_cross", "parameters": {"fast": 2, "slow": 10},
                                                   "symbol": "BTC/USD", "timeframe": "1m", "duration": 60.0,
                                                   "max_notional": 5000.0, "max_trades": 10}})
    config = _project(tmp_path, made)
    assert tomllib.loads(config.read_text())["testnet"]["profiles"]["mine"]["strategy"] == "user_cross"
    monkeypatch.chdir(tmp_path)
    r = cli("--config", str(config), "testnet", "orchestrate", "--profile", "mine", "--warmup", "10",
            "--catch-up", "60", "--max-bars", "60")
    assert r.exit_code == 0, r.stderr + r.stdout
    # the window of the declared warm-up (max(2 * 30, 1000) bars, as many as the simulator serves), not --warmup 10
    warm = re.search(r"user_cross on BTC/USD 1m, (\d+) warm-up bars", r.stdout)
    assert warm and 30 < int(warm.group(1)) <= 1000, r.stdout
    assert ": completed" in r.stdout
    orders = list(sim_server.exchange.orders.values())
    assert orders and f"orders / fills / denials  {len(orders)} / {len(orders)} /" in r.stdout
    # the MLflow run of the session carries the hash of the user's strategy file
    from mlflow import MlflowClient

    from peaktrade.config import load_config
    from peaktrade.experiments.lookahead import strategy_code_hash
    from peaktrade.strategies import get_strategy

    (mlflow_id,) = [line.split()[-1] for line in r.stdout.splitlines() if line.strip().startswith("mlflow run")]
    cfg = load_config(config)
    tags = MlflowClient(tracking_uri=cfg.tracking.uri).get_run(mlflow_id).data.tags
    assert tags["peaktrade.strategy_code_hash"] == strategy_code_hash(get_strategy("user_cross", config=cfg))
