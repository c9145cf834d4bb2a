"""Helpers of the testnet tests: a config with every risk limit and a profile, and the fake exchange."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "adapters"))  # kraken_fakes

from kraken_fakes import FakeCcxtKraken, real_ccxt_with_transport  # noqa: E402,F401

RISK = {"max_order_notional": 100000.0, "max_position_notional": 100000.0, "max_total_exposure": 100000.0,
        "max_open_positions": 2, "max_daily_loss_pct": 90.0, "max_orders_per_minute": 1000}


def _v(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, (int, float)):
        return repr(x)
    if isinstance(x, list):
        return "[" + ", ".join(_v(i) for i in x) + "]"
    if isinstance(x, dict):
        return "{ " + ", ".join(f"{k} = {_v(v)}" for k, v in x.items()) + " }"
    return '"' + str(x).replace('"', '\\"') + '"'


def write_testnet_config(tmp_path: Path, *, testnet: dict[str, Any] | None = None,
                         profiles: dict[str, dict[str, Any]] | None = None, risk: dict[str, Any] | None = None) -> Path:
    """Write the test config with every [risk] limit set, a temp store, and testnet profiles."""
    data = tomllib.loads((REPO_ROOT / "config" / "config.test.toml").read_text())
    data["data"]["dir"] = str(tmp_path / "store")
    data["runs"]["dir"] = str(tmp_path / "runs")
    data["safety"]["state_dir"] = str(tmp_path / "runs" / "state")
    data["tracking"]["uri"] = f"sqlite:///{tmp_path / 'mlruns.db'}"
    data["tracking"]["artifacts"] = str(tmp_path / "mlartifacts")
    data["risk"].update(RISK | (risk or {}))
    data["testnet"].update({"budget_db": str(tmp_path / "budget.sqlite")} | (testnet or {}))
    profiles = profiles if profiles is not None else {
        "fast": {"strategy": "ma_crossover", "parameters": {"fast": 2, "slow": 4}, "symbol": "BTC/USD",
                 "timeframe": "1m", "duration": 60.0, "max_notional": 5000.0, "max_trades": 10}}
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {_v(v)}" for k, v in values.items()]
    for name, p in profiles.items():
        lines.append(f'[testnet.profiles."{name}"]')
        lines += [f"{k} = {_v(v)}" for k, v in p.items()]
    path = tmp_path / "testnet-config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def zigzag_bars(fake: FakeCcxtKraken, n: int = 60, *, tf_ms: int = 60_000) -> None:
    """Give ``fake`` ``n`` completed 1m candles of a zigzag (several MA crossings) and set its clock."""
    import math

    start = fake.now_ms - (n + 1) * tf_ms
    start -= start % tf_ms
    rows = []
    for i in range(n):
        c = 100 + 3 * math.sin(i / 4)  # within [risk] max_price_deviation 5 % of the ticker (100)
        rows.append([start + i * tf_ms, c, c + 1, c - 1, c, 5.0])
    fake.bars = rows
    fake.now_ms = start + n * tf_ms + 1000
