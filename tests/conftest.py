"""Shared fixtures: the real Kraken files, an isolated config, an in-process CLI runner, bar builders."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import random_bars, write_toml

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_KRAKEN = REPO_ROOT.parent / "shared" / "data" / "kraken"
TEST_CONFIG = REPO_ROOT / "config" / "config.test.toml"


def pytest_configure(config: pytest.Config) -> None:
    """Warm the numba cache once, before any test (and before xdist starts its workers), as ``make install``
    does: a test whose process would otherwise be the first to compile a kernel would see the one-time
    compile message on stderr, depending on test order; and workers would compile the same kernels twice."""
    if hasattr(config, "workerinput") or config.option.collectonly:
        return  # an xdist worker: the controller warmed the cache already
    path = [str(REPO_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    subprocess.run([sys.executable, "-m", "peaktrade.cli.main", "warmup", "--quiet"], cwd=REPO_ROOT, env=env,
                   check=True, timeout=1800)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return ``../shared/data/kraken`` (resolved from the repo root); skip when it is absent."""
    if not (SHARED_KRAKEN / "XBTUSD_60.csv.gz").is_file():
        pytest.skip("../shared/data/kraken not found: real-data tests need the shared Kraken files")
    return SHARED_KRAKEN


@pytest.fixture(autouse=True)
def isolated_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give every test its own safety state directory (kill switch, audit, daily P&L, testnet budgets).

    The real per-user state (``~/.local/state/peaktrade``) is never touched by the suite: a config that
    leaves ``[safety] state_dir`` unset resolves to this temporary directory, in this process and in
    every process the test starts.
    """
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("PEAKTRADE_STATE_DIR", str(state))
    return state


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove peaktrade overrides and exchange secrets from the environment."""
    from peaktrade.config import ENV_PATH_VAR, SECRET_VARS

    for key in list(os.environ):
        if key.startswith("PEAKTRADE__") or key in SECRET_VARS or key == ENV_PATH_VAR:
            monkeypatch.delenv(key)
    return monkeypatch


@pytest.fixture
def make_cfg(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Return ``make(**sections)``: write a test config (data in a temp dir) and point
    ``PEAK_TRADE_CONFIG_PATH`` at it; ``make(data={"gaps": "fill"})`` overrides keys."""
    from peaktrade.config import load_config

    def make(**overrides: dict[str, Any]):
        data = tomllib.loads(TEST_CONFIG.read_text(encoding="utf-8"))
        data["data"]["dir"] = str(tmp_path / "store")
        for section, values in overrides.items():
            data.setdefault(section, {}).update(values)
        path = write_toml(tmp_path / "peaktrade-test.toml", data)
        clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(path))
        return load_config()

    return make


@pytest.fixture
def cfg(make_cfg: Callable[..., Any]):
    """A loaded test config whose data store is a fresh temp directory."""
    return make_cfg()


@dataclass
class CliResult:
    """Outcome of one in-process CLI run."""

    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Return ``run(*argv)``: run ``peaktrade.cli.main.main(argv)`` in-process, capturing output."""
    from peaktrade.cli.main import main

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as e:  # pragma: no cover - main() returns codes; kept for safety
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


def tree_hashes(root: Path) -> dict[str, str]:
    """Return {relative path: sha256} of every file under ``root`` (hidden temp files included)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def bars_of() -> Callable[..., pd.DataFrame]:
    """Return ``bars_of(times, close=None, **kw)``: :func:`helpers.random_bars` at the given open times."""
    return lambda times, close=None, **kw: random_bars(times=times, close=close, **kw)


@pytest.fixture
def hourly_bars() -> Callable[..., pd.DataFrame]:
    """Return ``hourly_bars(start, n, **kw)``: ``n`` consecutive hourly :func:`helpers.random_bars` from ``start``."""
    return lambda start, n, **kw: random_bars(n, start=start, freq="h", **kw)


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, str]]:
    """Return :func:`tree_hashes`: ``{relative path: sha256}`` of every file under a directory."""
    return tree_hashes
