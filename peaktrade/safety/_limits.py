"""RiskLimits: pre-trade and per-session limits, the second pre-trade check (after the SafetyGuard).

Limits come from ``[risk]``; an unset limit does not apply (testnet and live refuse to start unless
all are set: :func:`require_limits_for`). Every limit compares the value the order would produce
with the limit and denies when it is strictly greater, naming the limit and both numbers.

Orders that move a position toward zero without flipping it (exposure-reducing orders) are never
denied by a limit: a limit must not trap a position it cannot close. They still count toward the
orders-per-minute window. The trading *state* (kill switch) is the SafetyGuard's job.

- ``max_order_notional``    quantity × price of the order (a limit order at its worse of limit and market)
- ``max_position_notional`` |position after the order| × price, per symbol
- ``max_total_exposure``    Σ |position| × mark over all symbols after the order (other symbols at the
                            last price seen, else their average entry)
- ``max_open_positions``    positions after an order that opens a new one
- ``max_daily_loss`` / ``max_daily_loss_pct``  start-of-day equity − equity (UTC day; the start of day is
                            the equity as of 00:00 UTC, or the first seen that day); a breach engages the
                            kill switch (``[risk] on_daily_loss``) and holds for the rest of the day
- ``max_orders_per_minute`` orders in the 60 s of *market* time up to ``now`` (never the wall clock)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import uuid
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade.config import RiskConfig
from peaktrade.execution.ledger import Ledger
from peaktrade.execution.pipeline import Decision
from peaktrade.orders.model import OrderFill, OrderRequest
from peaktrade.safety._audit import Clock, DecisionLog, DecisionRecord
from peaktrade.safety._environment import TradingEnvironment, TradingState
from peaktrade.safety._errors import SafetyError
from peaktrade.safety._kill_switch import KillSwitch, _atomic_write_json
from peaktrade.safety._orders import exposure_change, fmt_money, fmt_qty, order_subject, post_position

if TYPE_CHECKING:
    from peaktrade.config import Config

_MINUTE = pd.Timedelta(seconds=60)


class _Undecidable(Exception):
    """A limit cannot be evaluated (missing price, time, mark): the order is denied by that limit."""

    def __init__(self, gate: str, why: str) -> None:
        super().__init__(f"{gate}: cannot evaluate: {why}")
        self.gate = gate


def require_limits_for(environment: TradingEnvironment | str, config: Config) -> None:
    """Raise :class:`~peaktrade.errors.ConfigError` when ``environment`` is testnet/live and a limit is unset."""
    config.risk.require_limits_for(TradingEnvironment.parse(environment).value)


def utc(t: Any) -> pd.Timestamp:
    """Return ``t`` as a UTC timestamp (naive times are taken as UTC); raise ValueError when it is none."""
    ts = pd.Timestamp(t) if t is not None else pd.NaT
    if ts is pd.NaT or pd.isna(ts):
        raise ValueError(f"market time {t!r} is missing")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _finite_pos(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed): one process at a time in the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class DailyPnLBook:
    """Today's P&L (realized + unrealized) of every session of one (environment, account), shared on disk.

    One JSON file per (environment, account) in the state directory holds the UTC day and, per
    session, its P&L since its start-of-day equity and that equity. Every update is a locked
    read-modify-write (``flock`` + atomic replace), so sessions in concurrent processes add up instead
    of overwriting each other. A file of an earlier day is started over; an unreadable file raises
    ``ValueError`` (the limits then deny exposure-increasing orders: fail closed).
    """

    def __init__(self, path: Path, *, environment: str, account: str, session: str | None = None) -> None:
        self.path = Path(path)
        self.environment = environment
        self.account = account
        self.session = session or uuid.uuid4().hex

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{type(e).__name__}: {e}") from None
        sessions = data.get("sessions") if isinstance(data, dict) else None
        if not isinstance(sessions, dict) or not isinstance(data.get("day"), str) or not all(
                isinstance(v, dict) and all(isinstance(v.get(k), (int, float)) and math.isfinite(v[k])
                                            for k in ("pnl", "start_equity")) for v in sessions.values()):
            raise ValueError("not a daily P&L book (day, sessions{pnl, start_equity})")
        return data

    def update(self, day: str, *, pnl: float, start_equity: float) -> tuple[float, float]:
        """Record this session's P&L of ``day``; return (Σ P&L of the *other* sessions that day, the day's
        first start-of-day equity)."""
        with _file_lock(self.path.with_name(self.path.name + ".lock")):
            data = self._read()
            if data.get("day") != day:
                if data.get("day", "") > day:
                    raise ValueError(f"holds day {data['day']}, later than {day}")
                data = {"version": 1, "environment": self.environment, "account": self.account, "day": day,
                        "sessions": {}}
            sessions = data["sessions"]
            others = sum(float(v["pnl"]) for k, v in sessions.items() if k != self.session)
            base = min((float(v["start_equity"]) for v in sessions.values()
                        if v is not sessions.get(self.session)), default=start_equity)
            mine = {"pnl": float(pnl), "start_equity": float(start_equity)}
            if sessions.get(self.session) != mine:
                sessions[self.session] = mine
                _atomic_write_json(self.path, data)
            return others, base


def account_id(config: Config, environment: TradingEnvironment) -> str:
    """Return the account a session trades: ``key-<sha256 of the API key, 12 hex>`` on an exchange, else ``default``.

    Only a digest of the (non-secret) key name is used, never the secret.
    """
    key = getattr(getattr(config, "secrets", None), "kraken_api_key", None)
    if environment.simulated or key is None:
        return "default"
    return "key-" + hashlib.sha256(key.get_secret_value().encode()).hexdigest()[:12]


class RiskLimits:
    """Pre-trade limits of one session (implements the pipeline's ``OrderCheck`` and its callbacks).

    Parameters
    ----------
    limits
        The ``[risk]`` section (or a :class:`~peaktrade.config.RiskConfig` built in code).
    environment
        The session's environment (for records and the kill-switch scope).
    kill_switch
        Engaged on a daily-loss breach (scope: the environment). Without one, a breach only makes
        these limits deny exposure-increasing orders for the rest of the UTC day.
    log
        Where decisions are recorded (shared with the SafetyGuard by :func:`build_checks`).
    daily_book
        When set, the day's P&L of this session is shared there with every other session of the same
        (environment, account), and the daily loss limits apply to their sum: two runs losing 70 each
        breach a limit of 100. Only the current UTC day (by ``clock``) is shared: a replay of past days
        is measured on its own. An unreadable book denies exposure-increasing orders.
    """

    name = "RiskLimits"

    def __init__(self, limits: RiskConfig | None = None, *, environment: TradingEnvironment | str = "paper",
                 kill_switch: KillSwitch | None = None, log: DecisionLog | None = None,
                 daily_book: DailyPnLBook | None = None, clock: Clock | None = None) -> None:
        self.limits = limits if limits is not None else RiskConfig()
        self.environment = TradingEnvironment.parse(environment)
        self.kill_switch = kill_switch
        self.log = log if log is not None else DecisionLog(clock=clock)
        self.daily_book = daily_book
        self._others = 0.0  # P&L of the other sessions of this account today (from the book)
        self._base: float | None = None  # the account's start-of-day equity (the day's first session)
        self.marks: dict[str, float] = {}
        self._orders: deque[pd.Timestamp] = deque()
        self._day: pd.Timestamp | None = None
        self._day_start: float | None = None
        self._last: tuple[pd.Timestamp, float] | None = None
        self._breach: tuple[pd.Timestamp, str, str] | None = None  # (day, gate, reason)
        self._daily_error: str | None = None  # the persisted start-of-day state is unusable
        self._eval_error: str | None = None  # the last equity event could not be evaluated

    @classmethod
    def from_config(cls, environment: TradingEnvironment | str, config: Config, *, kill_switch: KillSwitch | None = None,
                    log: DecisionLog | None = None, clock: Clock | None = None) -> RiskLimits:
        """Return limits from ``config`` ([risk]) sharing the day's P&L in ``<state_dir>/daily_pnl/``."""
        env = TradingEnvironment.parse(environment)
        account = account_id(config, env)
        book = DailyPnLBook(config.state_dir / "daily_pnl" / f"{env.value}.{account}.json", environment=env.value,
                            account=account)
        return cls(config.risk.for_environment(env.value), environment=env, kill_switch=kill_switch, log=log, daily_book=book, clock=clock)

    @property
    def decisions(self) -> list[DecisionRecord]:
        """Every decision recorded so far (allow and deny), oldest first."""
        return self.log.records

    @property
    def start_of_day_equity(self) -> float | None:
        """Return the equity the current UTC day's loss is measured from (None before any observation)."""
        return self._day_start

    # -- the check ---------------------------------------------------------------------------
    def check(self, request: OrderRequest, *, ledger: Ledger, price: float, now: pd.Timestamp) -> Decision:
        """Decide on ``request`` against every configured limit; record the decision. Never raises."""
        position: float | None = None
        try:
            position = ledger.position(request.symbol)
            decision = self._decide(request, ledger, position, price, now)
        except _Undecidable as e:
            decision = Decision(False, e.gate, str(e))
        except Exception as e:  # noqa: BLE001 — a check that cannot decide denies
            decision = Decision(False, self.name, f"{self.name}: check failed: {type(e).__name__}: {e}")
        ok = self.log.record(component=self.name, kind="order", allowed=decision.allowed, gate=decision.gate,
                             reason=decision.reason, environment=self.environment.value,
                             market_time=now,
                             subject=order_subject(request, position))
        if decision.allowed and not ok:
            decision = self.log.deny_last(f"audit: {self.log.error}: an order that cannot be recorded is denied")
        return decision

    def _decide(self, request: OrderRequest, ledger: Ledger, position: float, price: float,
                now: pd.Timestamp) -> Decision:
        lim = self.limits
        if _finite_pos(price):
            self.marks[request.symbol] = float(price)
        change = exposure_change(request, position)
        if change == "reduce":
            if lim.max_orders_per_minute is not None:
                try:
                    self._orders.append(utc(now))
                except ValueError:
                    pass  # a reducing order is never denied by a limit; it just cannot be counted
            return Decision(True, self.name, "reducing order: limits do not apply")

        timed = lim.max_daily_loss is not None or lim.max_daily_loss_pct is not None or \
            lim.max_orders_per_minute is not None
        t: pd.Timestamp | None = None
        if timed:
            try:
                t = utc(now)
            except (ValueError, TypeError) as e:
                gate = ("max_daily_loss" if lim.max_daily_loss is not None else "max_daily_loss_pct"
                        if lim.max_daily_loss_pct is not None else "max_orders_per_minute")
                raise _Undecidable(gate, str(e)) from None

        # daily loss: a breach today holds; else evaluate the equity now
        if t is not None and (lim.max_daily_loss is not None or lim.max_daily_loss_pct is not None):
            gate = "max_daily_loss" if lim.max_daily_loss is not None else "max_daily_loss_pct"
            if self._breach is not None and self._breach[0] == t.floor("D"):
                return Decision(False, self._breach[1], f"{self._breach[2]} (breached today: the limit holds "
                                                        "until the next UTC day)")
            equity = self._equity(ledger, {request.symbol: price}, gate)
            self._observe(t, equity)
            for err in (self._daily_error, self._eval_error):
                if err is not None:
                    raise _Undecidable(gate, err)
            breach = self._evaluate(t, equity)
            if breach is not None:
                self._trip(t, *breach)
                return Decision(False, breach[0], breach[1])

        if lim.max_orders_per_minute is not None and t is not None:
            if self._orders and t < max(self._orders):
                raise _Undecidable("max_orders_per_minute",
                                   f"market time {t.isoformat()} is before the last order at "
                                   f"{max(self._orders).isoformat()}")
            while self._orders and self._orders[0] <= t - _MINUTE:
                self._orders.popleft()
            n = len(self._orders) + 1
            if n > lim.max_orders_per_minute:
                return Decision(False, "max_orders_per_minute",
                                f"max_orders_per_minute: {n} > {lim.max_orders_per_minute} in the minute to "
                                f"{t.isoformat()} (market time)")

        post = post_position(request, position)
        notional_limits = [n for n in ("max_order_notional", "max_position_notional", "max_total_exposure")
                           if getattr(lim, n) is not None]
        if notional_limits:
            p = float(price) if _finite_pos(price) else math.nan
            if request.type == "limit" and request.limit_price is not None:
                p = max(p, request.limit_price) if math.isfinite(p) else math.nan
            if not _finite_pos(p):
                raise _Undecidable(notional_limits[0], f"price {price!r} is not a finite price > 0")
            what = f"({request.side} {fmt_qty(request.quantity)} {request.symbol} at {fmt_money(p)})"
            notional = request.quantity * p
            if lim.max_order_notional is not None and notional > lim.max_order_notional:
                return Decision(False, "max_order_notional", f"max_order_notional: {fmt_money(notional)} > "
                                                             f"{fmt_money(lim.max_order_notional)} {what}")
            pos_notional = abs(post) * p
            if lim.max_position_notional is not None and pos_notional > lim.max_position_notional:
                return Decision(False, "max_position_notional",
                                f"max_position_notional: {request.symbol} {fmt_money(pos_notional)} > "
                                f"{fmt_money(lim.max_position_notional)} {what}")
            if lim.max_total_exposure is not None:
                total = pos_notional + sum(abs(pos.quantity) * self._mark(ledger, s, "max_total_exposure")
                                           for s, pos in ledger.positions.items()
                                           if s != request.symbol and pos.quantity)
                if total > lim.max_total_exposure:
                    return Decision(False, "max_total_exposure", f"max_total_exposure: {fmt_money(total)} > "
                                                                 f"{fmt_money(lim.max_total_exposure)} {what}")

        if lim.max_open_positions is not None and position == 0.0:
            n_open = 1 + sum(1 for s, pos in ledger.positions.items() if s != request.symbol and pos.quantity)
            if n_open > lim.max_open_positions:
                return Decision(False, "max_open_positions",
                                f"max_open_positions: {n_open} > {lim.max_open_positions} "
                                f"(opening {request.symbol})")

        if lim.max_orders_per_minute is not None and t is not None:
            self._orders.append(t)
        return Decision(True, self.name, f"{change}: within limits")

    # -- marks and equity --------------------------------------------------------------------
    def _mark(self, ledger: Ledger, symbol: str, gate: str, override: dict[str, float] | None = None) -> float:
        if override and _finite_pos(override.get(symbol)):
            return float(override[symbol])
        if _finite_pos(self.marks.get(symbol)):
            return self.marks[symbol]
        pos = ledger.positions.get(symbol)
        if pos is not None and _finite_pos(pos.avg_price):
            return pos.avg_price
        raise _Undecidable(gate, f"no price known for {symbol}")

    def _equity(self, ledger: Ledger, override: dict[str, float], gate: str) -> float:
        return ledger.cash + sum(pos.quantity * self._mark(ledger, s, gate, override)
                                 for s, pos in ledger.positions.items() if pos.quantity)

    # -- daily loss --------------------------------------------------------------------------
    def _observe(self, t: pd.Timestamp, equity: float) -> None:
        """Track the start-of-day equity (the equity as of 00:00 UTC, or the first seen that day) and share
        this session's P&L of today with the other sessions of the account."""
        day = t.floor("D")
        if self._day is None or day > self._day:
            if t == day or self._last is None or self._last[0] >= day:
                base = equity
            else:
                base = self._last[1]
            self._day, self._day_start = day, base
            self._others, self._base = 0.0, base
        if self._last is None or t >= self._last[0]:
            self._last = (t, equity)
        self._share(day, equity)

    def _share(self, day: pd.Timestamp, equity: float) -> None:
        book, start = self.daily_book, self._day_start
        if book is None or start is None or day != self._day:
            return
        # only the account's real day is shared: a replay of past market days is measured on its own
        today = utc(self.log.clock()).floor("D")
        if day != today:
            self._daily_error = None
            return
        try:
            self._others, self._base = book.update(day.strftime("%Y-%m-%d"), pnl=equity - start, start_equity=start)
            self._daily_error = None
        except (OSError, ValueError) as e:
            self._daily_error = (f"daily P&L book {book.path} is unusable ({type(e).__name__}: "
                                 f"{getattr(e, 'strerror', None) or e}): fix or delete it (fail closed)")

    def _evaluate(self, t: pd.Timestamp, equity: float) -> tuple[str, str] | None:
        lim, start = self.limits, self._day_start
        if start is None:
            return None
        own = start - equity
        loss = own - self._others
        base = self._base if self._base is not None else start
        ctx = (f"(start-of-day equity {fmt_money(start)}, equity {fmt_money(equity)}, "
               f"UTC day {t.strftime('%Y-%m-%d')})")
        if self._others:
            ctx = (f"(this run {fmt_money(own)}, other runs of the {self.environment} account today "
                   f"{fmt_money(-self._others)}; start-of-day equity {fmt_money(base)}, UTC day {t.strftime('%Y-%m-%d')})")
        if lim.max_daily_loss is not None and loss > lim.max_daily_loss:
            return "max_daily_loss", f"max_daily_loss: loss {fmt_money(loss)} > {fmt_money(lim.max_daily_loss)} {ctx}"
        if lim.max_daily_loss_pct is not None:
            if not base > 0:
                return "max_daily_loss_pct", f"max_daily_loss_pct: start-of-day equity is not positive {ctx}"
            pct = loss / base * 100.0
            if pct > lim.max_daily_loss_pct:
                return ("max_daily_loss_pct",
                        f"max_daily_loss_pct: loss {pct:.2f}% > {lim.max_daily_loss_pct:.2f}% {ctx}")
        return None

    def _trip(self, t: pd.Timestamp, gate: str, reason: str) -> None:
        """Remember the breach for the day and engage the kill switch (never loosening it)."""
        self._breach = (t.floor("D"), gate, reason)
        target = TradingState.HALTED if self.limits.on_daily_loss == "halt" else TradingState.REDUCING
        if self.kill_switch is None:
            return
        try:
            if self.kill_switch.status().state.rank < target.rank:
                self.kill_switch.engage(reason, state=target, scope=self.environment.value, source=gate, at=t)
        except SafetyError:
            pass  # not persisted: the switch holds it in memory and recorded why

    def _daily_event(self, t: Any, equity: float) -> None:
        lim = self.limits
        if lim.max_daily_loss is None and lim.max_daily_loss_pct is None:
            return
        try:
            ts = utc(t)
            if not math.isfinite(equity):
                raise ValueError(f"equity {equity!r} is not finite")
            self._observe(ts, equity)
            breach = self._evaluate(ts, equity)
            self._eval_error = None
        except Exception as e:  # noqa: BLE001 — cannot evaluate: deny increasing orders until it can
            self._eval_error = f"daily loss could not be evaluated at {t!r}: {type(e).__name__}: {e}"
            return
        if breach is not None:
            if self._breach is None or self._breach[0] != ts.floor("D"):
                self.log.record(component=self.name, kind="state", allowed=False, gate=breach[0], reason=breach[1],
                                environment=self.environment.value, market_time=ts)
            self._trip(ts, *breach)

    # -- pipeline callbacks ------------------------------------------------------------------
    def on_fill(self, fill: OrderFill, *, ledger: Ledger) -> None:
        """Update the mark of the filled symbol and evaluate the daily loss at the fill's market time."""
        if _finite_pos(fill.price):
            self.marks[fill.symbol] = float(fill.price)
        try:
            equity = self._equity(ledger, {fill.symbol: fill.price}, "max_daily_loss")
        except _Undecidable:
            return  # on_equity at the bar's close decides
        self._daily_event(fill.timestamp, equity)

    def on_equity(self, time: pd.Timestamp, equity: float, *, ledger: Ledger) -> None:
        """Evaluate the daily loss at a bar's close (market time); a breach engages the kill switch."""
        self._daily_event(time, float(equity))
