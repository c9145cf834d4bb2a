"""Testnet budgets: per-run and per-day notional and trade counts, a symbol allow-list, a run-time cap.

Usage lives in one SQLite file (``[testnet] budget_db``). Every reservation is one ``BEGIN IMMEDIATE``
transaction that sums what is already used and inserts the new row only when every limit still
holds, so two orchestrators (threads or processes) racing for the last of a budget can never both
get it. An order whose outcome is unknown stays counted (fail closed); only an order the venue
provably refused is released.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade.errors import PeakTradeError

if TYPE_CHECKING:
    from peaktrade.config import Config

_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    profile TEXT NOT NULL DEFAULT '',
    day TEXT NOT NULL,
    ts TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL DEFAULT '',
    notional REAL NOT NULL,
    client_order_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'reserved'
);
CREATE INDEX IF NOT EXISTS usage_day ON usage(day);
CREATE INDEX IF NOT EXISTS usage_run ON usage(run_id);
"""


class BudgetExceeded(PeakTradeError):
    """A reservation would break a testnet limit (the message names it and the numbers)."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


class DuplicateClientOrderId(BudgetExceeded):
    """A client order id was already reserved (by this or any other process): ids are single-use."""

    def __init__(self, message: str) -> None:
        super().__init__("client_order_id", message)


class BudgetStoreError(PeakTradeError):
    """The budget database cannot be read or written (corrupt, not a database, locked too long)."""


@dataclass(frozen=True)
class BudgetLimits:
    """The caps one run is held to (the day caps are shared by every run of that UTC day)."""

    run_notional: float
    run_trades: int
    daily_notional: float
    daily_trades: int
    symbols: tuple[str, ...]
    max_run_seconds: float

    @classmethod
    def from_config(cls, config: Config, profile: Any = None) -> BudgetLimits:
        """Return the ``[testnet]`` limits, tightened by ``profile`` (its max_notional, max_trades, duration)."""
        t = config.testnet
        run_n, run_t, secs = t.max_run_notional, t.max_run_trades, t.max_run_seconds
        if profile is not None:
            run_n, run_t = min(run_n, profile.max_notional), min(run_t, profile.max_trades)
            secs = min(secs, profile.duration)
        return cls(float(run_n), int(run_t), float(t.max_daily_notional), int(t.max_daily_trades),
                   tuple(t.symbols), float(secs))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TestnetBudget:
    """Budget bookkeeping of testnet runs in a SQLite file (safe across threads and processes).

    Parameters
    ----------
    path
        The SQLite file (created with its directory).
    limits
        The caps (see :class:`BudgetLimits`).
    clock
        Returns the current UTC time (tests freeze it); the budget day is its UTC date.
    """

    __test__ = False  # not a pytest class

    def __init__(self, path: str | Path, limits: BudgetLimits, *, clock: Callable[[], datetime] = _utc_now,
                 busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.limits = limits
        self.clock = clock
        self.busy_timeout = float(busy_timeout)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.busy_timeout
        while True:  # switching to WAL is not covered by the busy handler: orchestrators starting together retry
            try:
                with self._db() as con:
                    con.execute("PRAGMA journal_mode=WAL")
                    con.executescript(_SCHEMA)
                break
            except BudgetStoreError as e:
                if not isinstance(e.__cause__, sqlite3.OperationalError) or "locked" not in str(e.__cause__) \
                        or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection to the store; any SQLite failure becomes one clear :class:`BudgetStoreError`.

        The file is never rewritten or removed here: a corrupt store is left as it is for a human.
        """
        try:
            with closing(sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)) as con:
                con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
                yield con
        except sqlite3.Error as e:
            if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
                what = f"is locked by another process for more than {self.busy_timeout:g} s; retry later"
            else:
                what = (f"cannot be used ({e}); it was left untouched: move it aside (or restore a backup) "
                        "and a new empty budget database is created on the next run ([testnet] budget_db)")
            raise BudgetStoreError(f"testnet budget database {self.path} {what}") from e

    def day(self) -> str:
        return self.clock().astimezone(UTC).strftime("%Y-%m-%d")

    @staticmethod
    def _sums(con: sqlite3.Connection, where: str, args: Iterable[Any]) -> tuple[float, int]:
        row = con.execute(f"SELECT COALESCE(SUM(notional), 0), COUNT(*) FROM usage WHERE status != 'released' "
                          f"AND {where}", tuple(args)).fetchone()
        return float(row[0]), int(row[1])

    def reserve(self, *, run_id: str, symbol: str, notional: float, client_order_id: str, side: str = "",
                profile: str = "", force: bool = False) -> None:
        """Count one order of ``notional`` against the run and the day, atomically; raise :class:`BudgetExceeded`.

        A client order id is single-use: one already in the store (reserved, released or forced,
        by any run or process) raises :class:`DuplicateClientOrderId` and nothing is counted. The
        ``UNIQUE`` column makes this hold across processes. ``force`` records the order even past
        the notional and trade caps (an exposure-reducing exit: usage stays truthful); never a
        reused id.
        """
        if symbol not in self.limits.symbols:
            raise BudgetExceeded("symbols", f"symbols: {symbol} is not in [testnet] symbols "
                                            f"({', '.join(self.limits.symbols) or 'none'})")
        if isinstance(notional, bool) or not isinstance(notional, (int, float)) or not math.isfinite(notional) \
                or notional < 0:
            raise BudgetExceeded("notional", f"notional={notional!r} cannot be counted (fail closed)")
        now = self.clock()
        day = now.astimezone(UTC).strftime("%Y-%m-%d")
        lim = self.limits
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")  # one writer at a time: the sums cannot change under us
            try:
                prior = con.execute("SELECT run_id, status FROM usage WHERE client_order_id = ?",
                                    (client_order_id,)).fetchone()
                if prior:
                    raise DuplicateClientOrderId(
                        f"client_order_id {client_order_id!r} was already used (run {prior[0]}, {prior[1]}): "
                        "a client order id is single-use; give each order a new one")
                run_n, run_t = self._sums(con, "run_id = ?", (run_id,))
                day_n, day_t = self._sums(con, "day = ?", (day,))
                checks = (("max_run_trades", run_t + 1, lim.run_trades, "d"),
                          ("max_run_notional", run_n + notional, lim.run_notional, ",.2f"),
                          ("max_daily_trades", day_t + 1, lim.daily_trades, "d"),
                          ("max_daily_notional", day_n + notional, lim.daily_notional, ",.2f"))
                for name, value, cap, fmt in checks:
                    if value > cap * (1 + 1e-12) and not force:
                        raise BudgetExceeded(name, f"{name}: {format(value, fmt)} > {format(cap, fmt)} "
                                                   f"({side} {symbol} notional {notional:,.2f}, run {run_id}, day {day})")
                con.execute("INSERT INTO usage (run_id, profile, day, ts, symbol, side, notional, client_order_id) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (run_id, profile, day, now.isoformat(), symbol, side, float(notional), client_order_id))
                if force:
                    con.execute("UPDATE usage SET status = 'forced_exit' WHERE client_order_id = ?",
                                (client_order_id,))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def release(self, client_order_id: str) -> None:
        """Give back an order the venue provably refused (never one whose outcome is unknown)."""
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("UPDATE usage SET status = 'released' WHERE client_order_id = ?", (client_order_id,))
            con.execute("COMMIT")

    def count_fill(self, client_order_id: str, filled: float) -> None:
        """Count at least ``filled`` (what the order's fills cost so far, fees included) for ``client_order_id``.

        The reservation was made at the executable price; a fill the venue executed dearer raises the
        counted notional to what it actually cost, so usage never under-counts.
        """
        if isinstance(filled, bool) or not isinstance(filled, (int, float)) or not math.isfinite(filled):
            return
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("UPDATE usage SET notional = MAX(notional, ?) WHERE client_order_id = ?",
                        (float(filled), client_order_id))
            con.execute("COMMIT")

    def usage(self, *, run_id: str | None = None, day: str | None = None) -> dict[str, Any]:
        """Return what is used and left today (and for ``run_id`` when given)."""
        day = day or self.day()
        lim = self.limits
        with self._db() as con:
            dn, dt = self._sums(con, "day = ?", (day,))
            out: dict[str, Any] = {"day": day, "daily_notional": dn, "daily_trades": dt,
                                   "daily_notional_left": max(lim.daily_notional - dn, 0.0),
                                   "daily_trades_left": max(lim.daily_trades - dt, 0),
                                   "max_daily_notional": lim.daily_notional, "max_daily_trades": lim.daily_trades,
                                   "max_run_notional": lim.run_notional, "max_run_trades": lim.run_trades,
                                   "symbols": list(lim.symbols), "max_run_seconds": lim.max_run_seconds}
            if run_id is not None:
                rn, rt = self._sums(con, "run_id = ?", (run_id,))
                out.update(run_id=run_id, run_notional=rn, run_trades=rt)
            runs = con.execute("SELECT run_id, profile, COUNT(*), SUM(notional) FROM usage WHERE day = ? AND "
                               "status != 'released' GROUP BY run_id ORDER BY MIN(id)", (day,)).fetchall()
            out["runs"] = [{"run_id": r[0], "profile": r[1], "trades": r[2], "notional": r[3]} for r in runs]
        return out

    def rows(self) -> list[dict[str, Any]]:
        """Return every usage row (oldest first)."""
        with self._db() as con:
            cur = con.execute("SELECT * FROM usage ORDER BY id")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]


class BudgetCheck:
    """Pre-trade check (the pipeline's ``OrderCheck``) that reserves each order's notional in the budget.

    It also denies exposure-increasing orders once the run is older than ``max_run_seconds``. An
    exposure-reducing order that no longer fits the budget still passes and is recorded (status
    ``forced_exit``): a budget must not trap a position it cannot close. The symbol allow-list holds
    for every order.
    """

    name = "TestnetBudget"

    def __init__(self, budget: TestnetBudget, *, run_id: str, profile: str = "",
                 started: float | None = None, monotonic: Callable[[], float] = time.monotonic,
                 allow_reducing_over_budget: bool = True) -> None:
        self.budget = budget
        self.run_id = run_id
        self.profile = profile
        self.monotonic = monotonic
        self.started = monotonic() if started is None else started
        self.allow_reducing = allow_reducing_over_budget
        self._filled: dict[str, float] = {}  # client order id -> notional + fees of its fills so far

    def expired(self) -> bool:
        return self.monotonic() - self.started > self.budget.limits.max_run_seconds

    def check(self, request: Any, *, ledger: Any, price: float, now: pd.Timestamp) -> Any:
        from peaktrade.execution.pipeline import Decision
        from peaktrade.safety import is_reducing

        reducing = False
        try:
            reducing = bool(is_reducing(request, ledger.position(request.symbol)))
        except Exception:  # noqa: BLE001 — cannot tell: treat as increasing
            reducing = False
        if self.expired() and not reducing:
            return Decision(False, "max_run_seconds",
                            f"max_run_seconds: run older than {self.budget.limits.max_run_seconds:g} s")
        px = max(price, request.limit_price or 0.0) if request.limit_price else price
        notional = request.quantity * px
        try:
            self.budget.reserve(run_id=self.run_id, symbol=request.symbol, notional=notional,
                                client_order_id=request.client_order_id, side=request.side, profile=self.profile)
        except BudgetExceeded as e:
            if reducing and self.allow_reducing and e.limit not in ("symbols", "client_order_id"):
                self.budget.reserve(run_id=self.run_id, symbol=request.symbol, notional=notional,
                                    client_order_id=request.client_order_id, side=request.side,
                                    profile=self.profile, force=True)
                return Decision(True, self.name, f"exposure-reducing order past the budget, recorded ({e})")
            return Decision(False, e.limit, str(e))
        return Decision(True, self.name, f"reserved {notional:,.2f}")

    def on_fill(self, fill: Any, *, ledger: Any) -> None:
        """Count the fill's actual notional (fees included) when it exceeds what was reserved."""
        cid = fill.client_order_id
        self._filled[cid] = self._filled.get(cid, 0.0) + float(fill.notional) + float(fill.fee)
        try:
            self.budget.count_fill(cid, self._filled[cid])
        except sqlite3.Error:
            pass  # the reservation at the executable price stays counted; booking the fill must go on
