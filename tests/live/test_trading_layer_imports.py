"""The trading layer never imports the research layer (DESIGN.md §1): the caller logs a session to MLflow."""

from __future__ import annotations

import ast
from pathlib import Path

import peaktrade

PKG = Path(peaktrade.__file__).resolve().parent
TRADING = ("live", "orders", "execution", "safety", "testnet")  # testnet: the old package, gone
RESEARCH = ("peaktrade.tracking", "peaktrade.experiments", "peaktrade.reporting")


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
    return out


def test_trading_modules_when_scanned_then_no_import_of_the_research_layer():
    bad = [f"{p.relative_to(PKG)}: {m}" for d in TRADING for p in sorted((PKG / d).rglob("*.py"))
           for m in _imports(p) if m.startswith(RESEARCH)]
    assert bad == []


def test_testnet_when_looked_up_then_a_session_kind_inside_live_and_no_testnet_package():
    assert not (PKG / "testnet").exists()
    from peaktrade.live import run_testnet_session
    from peaktrade.orders import ExchangeExecutor

    assert run_testnet_session.__module__ == "peaktrade.live.testnet"
    assert ExchangeExecutor.__module__ == "peaktrade.orders.exchange"
