"""Helpers shared by the command modules: config loading, console, parsing of ``k=v`` options."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console

from peaktrade.errors import PeakTradeError
from peaktrade.experiments.grid import parse_value

if TYPE_CHECKING:
    from peaktrade.config import Config

console = Console()
err_console = Console(stderr=True)


def load_cfg(ctx_obj: dict[str, Any] | None = None) -> Config:
    """Load the config named by ``--config`` (stored on the typer context) or the default one."""
    from peaktrade.config import load_config

    return load_config((ctx_obj or {}).get("config"))


def parse_kv(items: list[str] | None, *, option: str) -> dict[str, Any]:
    """Parse ``["fast=20", "kind=ema"]`` into ``{"fast": 20, "kind": "ema"}`` (numbers when they parse)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise PeakTradeError(f"{option} {item!r} is invalid: expected NAME=VALUE")
        out[key.strip()] = parse_value(raw.strip())
    return out
