"""A backtest result saved to a directory, so a report can be rebuilt without the bars.

Layout (format ``peaktrade.result/1``), written by :func:`save_result` and by
:func:`peaktrade.tracking.log_backtest` as the run artifacts under ``result/``::

    equity.parquet   index time (UTC); columns equity, cash, position, drawdown
    trades.parquet   the trades table of BacktestResult.trades
    stats.json       {stat: value}; non-finite values as the strings "nan", "inf", "-inf"
    meta.json        {"format", "strategy", "params", "options", "init_cash", ...extra metadata}
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from peaktrade._files import atomic_write, atomic_write_json
from peaktrade.backtest.result import EquityViews
from peaktrade.errors import PeakTradeError

FORMAT = "peaktrade.result/1"
FILES = ("equity.parquet", "trades.parquet", "stats.json", "meta.json")


@dataclass
class SavedResult(EquityViews):
    """A backtest result read back from disk: what a report needs, without the bars.

    It quacks like :class:`~peaktrade.backtest.BacktestResult` where reports look
    (``equity``, ``trades``, ``drawdown``, ``returns``, ``stats()``, ``params``, ``strategy``,
    ``options``, ``init_cash``).
    """

    equity: pd.Series
    trades: pd.DataFrame
    saved_stats: pd.Series
    init_cash: float
    cash: pd.Series | None = None
    positions: pd.Series | None = None
    params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    strategy: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def stats(self) -> pd.Series:
        """Return the saved statistics."""
        return self.saved_stats.copy()


def _stat(v: Any) -> Any:
    if v is None:
        return math.nan
    if isinstance(v, bool):
        return v
    try:
        return float(v)  # also parses the saved strings "nan", "inf", "-inf"
    except (TypeError, ValueError):
        return v


def save_result(result: Any, path: str | os.PathLike[str], *, meta: dict[str, Any] | None = None) -> Path:
    """Write a backtest result to the directory ``path`` (created) and return it.

    Parameters
    ----------
    result
        A :class:`~peaktrade.backtest.BacktestResult` or :class:`SavedResult`.
    path
        Target directory; existing files of the format are overwritten.
    meta
        Extra metadata for ``meta.json`` (e.g. symbol, timeframe, data fingerprint).
    """
    if not hasattr(result, "equity") or not hasattr(result, "trades") or not hasattr(result, "stats"):
        raise PeakTradeError(f"result is a {type(result).__name__}: expected a BacktestResult")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"equity": result.equity})
    cash = getattr(result, "cash", None)
    pos = getattr(result, "positions", None)
    if cash is not None:
        frame["cash"] = cash.to_numpy()
    if pos is not None:
        frame["position"] = pos.to_numpy()
    frame["drawdown"] = result.drawdown.to_numpy()
    frame.index.name = "time"
    atomic_write(out / "equity.parquet", frame.to_parquet)
    atomic_write(out / "trades.parquet", result.trades.to_parquet)
    # non-finite stats as strings: they must read back as the same float (see _stat)
    atomic_write_json(out / "stats.json", result.stats().to_dict(), non_finite="string", indent=1)
    info = {
        "format": FORMAT,
        "strategy": getattr(result, "strategy", None),
        "params": dict(getattr(result, "params", {}) or {}),
        "options": dict(getattr(result, "options", {}) or {}),
        "init_cash": float(result.init_cash),
        **{str(k): v for k, v in (getattr(result, "meta", {}) or {}).items()},
        **{str(k): v for k, v in (meta or {}).items()},
    }
    atomic_write_json(out / "meta.json", info, non_finite="string", indent=1)
    return out


def is_saved_result(path: str | os.PathLike[str]) -> bool:
    """Return True when ``path`` is a directory holding a saved result."""
    p = Path(path)
    return p.is_dir() and all((p / f).is_file() for f in FILES)


def load_result(path: str | os.PathLike[str]) -> SavedResult:
    """Read a result written by :func:`save_result`.

    Raises
    ------
    PeakTradeError
        When ``path`` is not a saved-result directory or a file in it cannot be read.
    """
    p = Path(path)
    if not p.is_dir():
        raise PeakTradeError(f"{p} is not a directory: expected a saved result ({', '.join(FILES)})")
    missing = [f for f in FILES if not (p / f).is_file()]
    if missing:
        raise PeakTradeError(f"{p} is not a saved result: missing {', '.join(missing)}")
    try:
        meta = json.loads((p / "meta.json").read_text(encoding="utf-8"))
        raw_stats = json.loads((p / "stats.json").read_text(encoding="utf-8"))
        eq = pd.read_parquet(p / "equity.parquet")
        trades = pd.read_parquet(p / "trades.parquet")
    except Exception as e:  # noqa: BLE001  (any corrupt file is a user-facing error)
        raise PeakTradeError(f"{p} holds an unreadable saved result: {type(e).__name__}: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PeakTradeError(f"{p}/meta.json has format {meta.get('format') if isinstance(meta, dict) else None!r}: "
                             f"expected {FORMAT!r}")
    if "equity" not in eq:
        raise PeakTradeError(f"{p}/equity.parquet lacks the 'equity' column")
    if not isinstance(raw_stats, dict):
        raise PeakTradeError(f"{p}/stats.json is a {type(raw_stats).__name__}: expected an object of stats")
    stats = pd.Series({k: _stat(v) for k, v in raw_stats.items()}, dtype=object)
    try:
        stats = stats.astype(float)
    except (TypeError, ValueError):
        pass
    base = {"format", "strategy", "params", "options", "init_cash"}
    return SavedResult(
        equity=eq["equity"].rename("equity"),
        trades=trades,
        saved_stats=stats,
        init_cash=float(meta.get("init_cash", eq["equity"].iloc[0] if len(eq) else 1.0)),
        cash=eq["cash"].rename("cash") if "cash" in eq else None,
        positions=eq["position"].rename("position") if "position" in eq else None,
        params=dict(meta.get("params") or {}),
        options=dict(meta.get("options") or {}),
        strategy=meta.get("strategy"),
        meta={k: v for k, v in meta.items() if k not in base},
    )


def session_result(run_dir: str | os.PathLike[str]) -> SavedResult:
    """Read a paper, shadow, testnet or live session's run log as a result a report can show.

    The equity curve (with cash and position) comes from the run's ``equity`` events, the trades from its
    ``trades.parquet``, the statistics from the numbers of the summary in ``meta.json``; ``meta`` keeps the
    run's metadata (run id, environment, exchange, symbol, ...).

    Raises
    ------
    PeakTradeError
        When the run log cannot be read or has no equity event yet (nothing to show).
    """
    from peaktrade.live.runlog import read_events, read_meta

    p = Path(run_dir)
    meta = read_meta(p)
    rows = [(e.get("time"), e["payload"]) for e in read_events(p, errors="skip").of_type("equity")]
    if not rows:
        raise PeakTradeError(f"run {p.name} has no equity event yet: nothing to report (see `peaktrade runs show`)")
    index = pd.DatetimeIndex(pd.to_datetime([t for t, _ in rows], utc=True, format="ISO8601"), name="time")
    col = {k: pd.Series([float(pl.get(k, math.nan)) for _, pl in rows], index=index, name=k)
           for k in ("equity", "cash", "position")}
    trades_file = p / "trades.parquet"
    trades = pd.read_parquet(trades_file) if trades_file.is_file() else pd.DataFrame()
    summary = meta.get("summary") or {}
    stats = pd.Series({k: _stat(v) for k, v in summary.items() if isinstance(v, (int, float)) and k != "trades"},
                      dtype=float)
    opts = meta.get("options") or {}
    return SavedResult(
        equity=col["equity"], trades=trades, saved_stats=stats,
        init_cash=float(opts.get("init_cash") or col["equity"].iloc[0]),
        cash=col["cash"], positions=col["position"].rename("position"),
        params=dict(meta.get("params") or {}), options=dict(opts), strategy=meta.get("strategy"),
        meta={"run_id": p.name, **{k: v for k, v in meta.items() if k not in ("params", "options", "strategy")}},
    )
