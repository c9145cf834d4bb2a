"""Reconcile with the venue before the first order, and resume a run after a crash (``peaktrade runs resume``).

Both sessions that place orders, testnet and live, do this through the same code
(:func:`peaktrade.live.testnet.start_reconcile`, :func:`~peaktrade.live.testnet.reopen_run`); a live resume is a
live start: every live gate, readiness and the ramp again before anything reaches the venue.

A session that places orders knows what the venue holds before it trades: its start event records the
venue's balances of the symbol's two currencies (the baseline a resume checks the books against) after the
open orders were dealt with (:func:`peaktrade.live.testnet._reconcile_orphans`).

Resuming run ``RUN_ID`` (crashed, or stopped):

1. the ledger is rebuilt from the run log: every ``fill`` event booked again, in order, with the
   ledger's own arithmetic (so it is the ledger the dead process had, to the last digit);
2. every order of the run — the recorder writes an ``order`` event to disk *before* the order goes on the
   wire, so an order in flight when the process died is in the log — is looked up at the venue by its
   client order id; its executions are read from the venue's trade history (since the run started) and
   what the log has not booked (fills while the process was down, or lost with the last unwritten batch)
   is booked now, once, as ``fill`` events; an order still open is adopted (reconciled on the next bars,
   never re-sent: a client order id is used once);
3. the books are checked against the venue: the position must equal the change of the base currency's
   balance since the run started (the quote's change is reported next to the ledger's cash change);
   a mismatch refuses to resume (fail closed);
4. the run continues under the same run id, appending to the same run log: the bars completed while it
   was down are traded first (as catch-up bars are: signals on them, orders at the venue's price now),
   then new bars. A signal of the last logged bar that had not been acted on is acted on at the next open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade.errors import PeakTradeError
from peaktrade.execution.ledger import Ledger
from peaktrade.live.runlog import (
    COMPLETED,
    CRASHED,
    RUNNING,
    STOPPED,
    effective_status,
    find_run,
    read_events,
    read_meta,
)
from peaktrade.orders.model import OrderFill, OrderRequest

if TYPE_CHECKING:
    from peaktrade.config import Config

#: The statuses a run can be resumed from.
RESUMABLE = (CRASHED, STOPPED)
_QTY_TOL = 1e-8  # base units: the venue's amounts have 8 decimals


class ResumeError(PeakTradeError):
    """A run cannot be resumed (the message says why; nothing was sent and the run log is unchanged)."""


@dataclass
class RunState:
    """What a run log says about a run: its books, its orders, where it stopped."""

    run_id: str
    run_dir: Path
    meta: dict[str, Any]
    ledger: Ledger
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # client order id -> its order event payload
    booked: dict[str, list[float]] = field(default_factory=dict)  # client order id -> [quantity, notional, fee]
    last_bar: pd.Timestamp | None = None
    last_signal: tuple[bool, bool] | None = None  # the last logged bar's signal (entry, exit)
    last_close: float | None = None  # the last logged bar's close
    last_bar_done: bool = True  # its equity was logged (False: the process died while processing it)
    times: list[pd.Timestamp] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"orders": 0, "fills": 0, "denials": 0})
    baseline: dict[str, Any] | None = None  # the start event's venue reconciliation (balances)
    status: str = ""

    @property
    def symbol(self) -> str:
        return str(self.meta["symbol"])


def rebuild_run(run_dir: Path) -> RunState:
    """Rebuild the ledger and the order book of a run from its run log (read only)."""
    meta = read_meta(run_dir)
    try:
        init_cash = float(meta["options"]["init_cash"])
    except (KeyError, TypeError, ValueError):
        raise ResumeError(f"run log {run_dir} has no options.init_cash in meta.json: cannot rebuild its ledger") \
            from None
    st = RunState(str(meta.get("run_id", Path(run_dir).name)), Path(run_dir), meta, Ledger(init_cash),
                  status=effective_status(meta))
    last_bar: pd.Timestamp | None = None
    for ev in read_events(run_dir):
        t, p = ev["type"], ev["payload"]
        if t == "bar":
            last_bar = st.last_bar = pd.Timestamp(ev["time"])
            st.last_signal, st.last_close, st.last_bar_done = None, float(p["close"]), False
        elif t == "signal":
            st.last_signal = (bool(p.get("entry")), bool(p.get("exit")))
        elif t == "equity" and last_bar is not None:
            st.times.append(last_bar)
            st.values.append(float(p["equity"]))
            st.last_bar_done = True
        elif t == "order":
            st.orders[p["client_order_id"]] = p
            st.counts["orders"] += 1
        elif t == "denial":
            st.counts["denials"] += 1
        elif t == "fill":
            fill = OrderFill(p["client_order_id"], p["symbol"], p["side"], float(p["quantity"]), float(p["price"]),
                             float(p["fee"]), pd.Timestamp(ev["time"]), p.get("tag", ""))
            st.ledger.apply(fill)
            b = st.booked.setdefault(fill.client_order_id, [0.0, 0.0, 0.0])
            b[0] += fill.quantity
            b[1] += fill.quantity * fill.price
            b[2] += fill.fee
            st.counts["fills"] += 1
        elif t == "session" and p.get("event") in ("start", "resumed") and p.get("reconcile"):
            st.baseline = st.baseline or p["reconcile"]  # the first start's balances are the baseline
    return st


def venue_balances(client: Any, symbol: str) -> dict[str, float]:
    """Return the venue's total balances of ``symbol``'s base and quote currencies (fail closed)."""
    base, quote = symbol.split("/")
    try:
        total = client.fetch_balance().total
    except Exception as e:  # noqa: BLE001 — the books cannot be checked without them
        raise ResumeError(f"cannot read the venue's balances ({e}): refusing to trade (fail closed)") from None
    return {base: float(total.get(base, 0.0)), quote: float(total.get(quote, 0.0))}


@dataclass
class Reconciliation:
    """What the venue says about a resumed run: fills to book, orders still open, the books' check."""

    fills: list[OrderFill]
    adopted: list[tuple[OrderRequest, str, float]]  # (request, venue order id, quantity booked)
    absent: list[str]  # client order ids the venue never held
    report: dict[str, Any]


def _since_ms(meta: dict[str, Any]) -> int | None:
    started = meta.get("started_at")
    if not started:
        return None
    return int(pd.Timestamp(started).timestamp() * 1000) - 60_000  # a minute of clock skew


def reconcile_run(client: Any, st: RunState) -> Reconciliation:
    """Compare the run's orders and books with the venue; return what to book and adopt (raises
    :class:`ResumeError` when the venue and the log disagree in a way that cannot be booked)."""
    symbol = st.symbol
    # an order the log booked in full is closed and done: only the others are looked up at the venue
    unsettled = {cid: p for cid, p in st.orders.items()
                 if st.booked.get(cid, (0.0,))[0] < float(p["quantity"]) - _QTY_TOL}  # venues round the amount
    try:
        trades = client.fetch_my_trades(symbol, _since_ms(st.meta)) if unsettled else []
        venue = {cid: client.find_order(cid, symbol) for cid in unsettled}
    except Exception as e:  # noqa: BLE001 — what filled must be known before trading again
        raise ResumeError(f"cannot read the run's orders and trades at the venue ({e}): refusing to resume "
                          "(fail closed)") from None
    by_order: dict[str, list[Any]] = {}
    for t in trades:
        by_order.setdefault(str(t.order_id), []).append(t)
    fills, adopted, absent, from_order = [], [], [], []
    for cid, p in unsettled.items():
        o = venue[cid]
        q0, n0, f0 = st.booked.get(cid, (0.0, 0.0, 0.0))
        if o is None:
            if q0 > _QTY_TOL:
                raise ResumeError(f"order {cid} has fills in the run log but the venue holds no such order: "
                                  "refusing to resume (fail closed)")
            absent.append(cid)
            continue
        ts = by_order.get(str(o.id), [])
        qty = sum(t.amount for t in ts)
        notional = sum(t.amount * t.price for t in ts)
        fee = sum(t.fee for t in ts)
        if abs(qty - o.filled) > _QTY_TOL * max(1.0, o.filled):
            # the history's page does not hold all of this order's executions: the order's own totals
            # (what the executor books from in a running session) are the venue's word
            qty, fee = o.filled, o.fee
            notional = o.cost if o.cost else (o.average or 0.0) * o.filled
            if qty > _QTY_TOL and not notional > 0:
                raise ResumeError(f"order {cid} ({o.id}): the venue reports {qty:g} filled but no price, and its "
                                  "trade history does not hold it: refusing to resume (fail closed)")
            ts = []
            from_order.append(cid)
        new = qty - q0
        if new < -_QTY_TOL:
            raise ResumeError(f"order {cid} ({o.id}): the run log booked {q0:g}, the venue filled only {qty:g}: "
                              "refusing to resume (fail closed)")
        if new > _QTY_TOL:
            when = max((t.timestamp_ms for t in ts if t.timestamp_ms is not None), default=o.timestamp_ms)
            stamp = pd.Timestamp(when, unit="ms", tz="UTC") if when is not None else pd.Timestamp.now(tz="UTC")
            fills.append(OrderFill(cid, symbol, p["side"], new, (notional - n0) / new, fee - f0, stamp,
                                   p.get("tag", "")))
        if o.status == "open":
            req = OrderRequest(symbol, p["side"], float(p["quantity"]), p.get("type", "market"), p.get("limit_price"),
                               reduce_only=bool(p.get("reduce_only")), client_order_id=cid, tag=p.get("tag", ""))
            adopted.append((req, str(o.id), qty))
    position = st.ledger.position(symbol) + sum(f.quantity if f.side == "buy" else -f.quantity for f in fills)
    cash = st.ledger.cash + sum(-(f.notional + f.fee) if f.side == "buy" else f.notional - f.fee for f in fills)
    report: dict[str, Any] = {"orders": len(st.orders), "looked_up": len(unsettled), "fills_booked": len(fills),
                              "from_order_totals": from_order, "absent": absent,
                              "adopted_open": [a[0].client_order_id for a in adopted], "position": position,
                              "cash_change": cash - st.ledger.initial_cash}
    base, quote = symbol.split("/")
    now = venue_balances(client, symbol)
    report["balances"] = now
    if not (st.baseline and isinstance(st.baseline.get("balances"), dict)):
        raise ResumeError(f"run {st.run_id}'s log holds no venue balances from its start (the `reconcile` of its "
                          "start event), so the books cannot be checked against the venue: refusing to resume "
                          "(fail closed); reconcile by hand and start a new session")
    then = st.baseline["balances"]
    d_base = now[base] - float(then.get(base, 0.0))
    report["venue_base_change"] = d_base
    report["venue_quote_change"] = now[quote] - float(then.get(quote, 0.0))
    if abs(d_base - position) > _QTY_TOL * max(1.0, abs(position)) * 10:
        raise ResumeError(f"the books disagree with the venue: the ledger holds {position:g} {base} after "
                          f"booking the venue's fills, but the venue's {base} balance changed by {d_base:g} since "
                          "the run started (another session or a person traded the account?): refusing to "
                          "resume (fail closed)")
    return Reconciliation(fills, adopted, absent, report)


def missed_bars(index: pd.DatetimeIndex, last_bar: pd.Timestamp | None, step: pd.Timedelta) -> int:
    """Return how many bars of ``index`` (the venue's latest) come after ``last_bar``: counted when ``index``
    reaches back to it, else estimated from the times (the caller loads that many and counts again)."""
    if last_bar is None or not len(index):
        return 0
    if index[0] <= last_bar:
        return int((index > last_bar).sum())
    return int((index[-1] - last_bar) / step)


def load_resumable(config: Config, run_ref: str) -> RunState:
    """Find run ``run_ref`` and rebuild it; refuse a run that is running, finished or placed no orders."""
    run_dir = find_run(config.runs_dir, run_ref)
    meta = read_meta(run_dir)
    status = effective_status(meta)
    rid = meta.get("run_id", run_dir.name)
    if status == RUNNING:
        raise ResumeError(f"run {rid} is still running (pid {meta.get('pid')} on {meta.get('host')}): stop it "
                          "first (`peaktrade runs show` says when it has ended)")
    if status not in RESUMABLE:
        hint = " (it ended as planned)" if status == COMPLETED else ""
        raise ResumeError(f"run {rid} is {status}{hint}: only a {' or '.join(RESUMABLE)} run can be resumed")
    env = meta.get("environment")
    if env not in ("testnet", "live"):
        raise ResumeError(f"run {rid} is a {env} session: `peaktrade runs resume` resumes testnet and live runs "
                          "(sessions that place orders at a venue)")
    if env == "testnet" and (not isinstance(meta.get("testnet"), dict) or meta["testnet"].get("validate_only", True)):
        raise ResumeError(f"run {rid} placed no orders (validate-only): nothing to reconcile; start a new run")
    if env == "live" and not isinstance(meta.get("live"), dict):
        raise ResumeError(f"run {rid}'s meta.json has no live section: cannot resume it")
    return rebuild_run(run_dir)


def resume_run(run_ref: str, *, config: Config | None = None, confirm: str | None = None, **kwargs: Any) -> Any:
    """Resume testnet or live run ``run_ref``: rebuild, reconcile, continue (see the module docstring).

    A testnet run goes on through :func:`peaktrade.live.testnet.run_testnet_session` (``kwargs``: duration,
    max_bars, poll_interval, warmup, stop, handle_signals, on_event, sleep, client, exchange, base_url) and returns
    its :class:`~peaktrade.live.testnet.TestnetResult`; a live run through
    :func:`peaktrade.live.runner.run_live_session` (``kwargs``: duration, max_bars, poll_interval, warmup, stop,
    handle_signals, on_event, sleep), which opens every live gate again (``confirm``: the ``LIVE-<hash8>`` token of
    gate 3), runs readiness and keeps the ramp, and returns its :class:`~peaktrade.live.runner.LiveResult`.
    """
    if config is None:
        from peaktrade.config import load_config

        config = load_config()
    st = load_resumable(config, run_ref)
    info = st.meta[st.meta["environment"]]
    if st.last_bar is None:  # it died before its first bar: its catch-up bars are still to be traded
        kwargs.setdefault("catch_up", int(info.get("catch_up") or 0))
    if st.meta["environment"] == "live":
        from peaktrade.live.runner import run_live_session

        return run_live_session(str(st.meta["strategy"]), symbol=st.symbol, timeframe=str(st.meta["timeframe"]),
                                params=st.meta.get("params") or {}, order_notional=float(info["order_notional"]),
                                confirm=confirm, config=config, resume=st, **kwargs)
    from peaktrade.live.testnet import run_testnet_session

    return run_testnet_session(str(info["profile"]), config=config, mode=str(info["mode"]), resume=st, **kwargs)


def check_same_plan(st: RunState, plan: Any) -> None:
    """Refuse to resume with a strategy, parameters or market other than the run's (the profile changed)."""
    now = {"strategy": plan.strategy.name, "symbol": plan.symbol, "timeframe": plan.timeframe,
           "params": {**plan.resolved, **plan.stops}}
    was = {k: st.meta.get(k) for k in now}
    diff = [k for k in now if _norm(now[k]) != _norm(was[k])]
    if diff:
        raise ResumeError("the profile no longer matches run " + st.run_id + ": " + "; ".join(
            f"{k} was {was[k]!r}, is {now[k]!r}" for k in diff) + ": refusing to resume (start a new run)")


def _norm(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    if isinstance(v, float) and math.isfinite(v) and v == int(v):
        return int(v)
    return v
