"""Session recorder: what a session does, written to its run log (one batch of events per bar).

:class:`Recorder` feeds each bar to the plan's signals and the execution pipeline and logs bars,
signals, orders, fills, denials, equity and positions (see :mod:`peaktrade.live.runlog`);
:func:`session_meta` is the run log's header and :func:`session_summary` its closing summary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade.execution.ledger import Ledger
from peaktrade.execution.pipeline import Decision, ExecutionPipeline, OrderCheck
from peaktrade.live.plan import POLL, SessionPlan
from peaktrade.live.runlog import RunLog
from peaktrade.orders.model import OrderFill, OrderRequest
from peaktrade.provenance import git_sha

if TYPE_CHECKING:
    from peaktrade.config import Config

#: Summary keeps at most this many trades in meta.json (all of them are in trades.parquet).
META_TRADES = 50


def session_meta(plan: SessionPlan, cfg: Config, *, environment: str, checks: Sequence[OrderCheck], executor: str,
                 poll_interval: float, max_history: int, warmup: int, max_bars: int | None) -> dict[str, Any]:
    """Return the run log's header (``meta.json``) of a session about to start."""
    from peaktrade import __version__

    h = plan.history if plan.history is not None else pd.DataFrame()
    return {
        "environment": environment,
        "mode": plan.mode,
        "strategy": plan.strategy.name,
        "params": {**plan.resolved, **plan.stops},
        "options": plan.options.to_dict(stops=False),
        "symbol": plan.symbol,
        "timeframe": plan.timeframe,
        "exchange": plan.exchange,
        "executor": executor,
        "checks": [_check_name(c) for c in checks],
        "replay": plan.replay_info,
        # window: the bars prepare is recomputed on per polled bar (sized by the strategy's declared warm-up)
        "poll": {"poll_interval": float(poll_interval), "max_history": max_history,
                 "window": getattr(plan.signals, "window", max_history)} if plan.mode == POLL else None,
        "warmup": {"requested": warmup, "bars": len(h), "first": h.index[0] if len(h) else None,
                   "last": h.index[-1] if len(h) else None},
        "max_bars": max_bars,
        "data_fingerprint": plan.data_fingerprint,
        "config_hash": cfg.config_hash(),
        "config_source": cfg.source,
        "config": cfg.sanitized(),
        # the code that trades is the package's: ask its checkout, not the config's project root
        "code_version": git_sha(Path(__file__).resolve().parent),
        "peaktrade_version": __version__,
        "events_file": "events.jsonl",
        "batch": "bar",
    }


def _check_name(check: Any) -> str:
    name = getattr(check, "name", None)
    return name if isinstance(name, str) and name else type(check).__name__


class Recorder:
    """Feeds bars to the signals and the pipeline and writes what happens to the run log (one batch per bar)."""

    def __init__(self, log: RunLog, pipe: ExecutionPipeline, plan: SessionPlan,
                 on_event: Callable[[dict[str, Any]], None] | None) -> None:
        self.log, self.pipe, self.plan, self.on_event = log, pipe, plan, on_event
        self.counts = {"orders": 0, "fills": 0, "denials": 0}
        self.times: list[pd.Timestamp] = []
        self.values: list[float] = []
        self.close_time: pd.Timestamp | None = None
        self.last_position = pipe.ledger.position(plan.symbol)
        h = pipe.hooks
        h.before_order.append(self._order)
        h.after_fill.append(self._fill)
        h.on_denial.append(self._denial)
        h.on_bar.append(self._equity)

    @property
    def n_bars(self) -> int:
        return len(self.times)

    def emit(self, type_: str, when: Any, payload: Mapping[str, Any]) -> None:
        """Log one event (and pass it to ``on_event``)."""
        ev = self.log.event(type_, when, payload)
        if self.on_event is not None:
            self.on_event(ev)

    def bar(self, ts: pd.Timestamp, o: float, h: float, lo: float, c: float, v: float) -> None:
        """Process one completed bar and write its batch."""
        self.close_time = close_time = ts + self.plan.step
        self.emit("bar", ts, {"open": o, "high": h, "low": lo, "close": c, "volume": v})
        e, x, f = self.plan.signals.push(ts, o, h, lo, c, v)
        if e or x:
            self.emit("signal", close_time, {"entry": e, "exit": x})
        equity = self.pipe.on_bar(ts, close_time, o, h, lo, c, v, e, x, frac=f)
        self.times.append(ts)
        self.values.append(equity)
        self.drain_skipped()
        self.log.flush()

    def data_error(self, e: BaseException, wait: float) -> None:
        """Log a fetch error the feed retries after ``wait`` seconds."""
        self.emit("session", None, {"event": "data_error", "error": str(e), "retry_in": wait})
        self.log.flush()

    def drain_skipped(self) -> None:
        """Log the candles the poller skipped (each once)."""
        poller = self.plan.poller
        while poller is not None and poller.skipped:
            ts_ms, reason = poller.skipped.pop(0)
            self.emit("session", pd.Timestamp(ts_ms * 1_000_000, tz="UTC"), {"event": "bad_candle", "reason": reason})

    def _order(self, req: OrderRequest) -> None:
        ctx = self.pipe.context
        self.counts["orders"] += 1
        self.emit("order", ctx.time, {"client_order_id": req.client_order_id, "symbol": req.symbol,
                                      "side": req.side, "quantity": req.quantity, "type": req.type,
                                      "limit_price": req.limit_price, "reduce_only": req.reduce_only,
                                      "tag": req.tag, "price": ctx.price})
        # write-ahead: an order is on disk before it is on the wire, so a run killed while the venue holds
        # it still knows its client order id (``peaktrade runs resume`` books its fills from the venue);
        # simulated orders reach no venue and keep the one sync per bar
        if getattr(self.pipe.executor, "kind", None) == "exchange":
            self.log.flush()

    def _fill(self, f: OrderFill) -> None:
        self.counts["fills"] += 1
        self.emit("fill", f.timestamp, {"client_order_id": f.client_order_id, "symbol": f.symbol, "side": f.side,
                                        "quantity": f.quantity, "price": f.price, "fee": f.fee, "tag": f.tag})

    def _denial(self, req: OrderRequest, d: Decision) -> None:
        self.counts["denials"] += 1
        self.emit("denial", self.pipe.context.time, {"client_order_id": req.client_order_id, "side": req.side,
                                                     "quantity": req.quantity, "tag": req.tag, "gate": d.gate,
                                                     "reason": d.reason})

    def _equity(self, ev: dict[str, Any]) -> None:
        self.emit("equity", self.close_time, {"equity": ev["equity"], "cash": ev["cash"], "position": ev["position"]})
        q = ev["position"]
        if q != self.last_position:
            self.last_position = q
            p = self.pipe.ledger.positions.get(self.plan.symbol)
            self.emit("position", self.close_time, {"symbol": self.plan.symbol, "quantity": q,
                                                    "avg_price": p.avg_price if p is not None and q else None})

    def equity(self) -> pd.Series:
        """Return equity at each processed bar's close, indexed by bar open time."""
        return pd.Series(self.values, index=pd.DatetimeIndex(self.times, name="time"), name="equity", dtype=float)

    def close(self, status: str, error: str | None) -> dict[str, Any]:
        """Write the end event, events.parquet, trades.parquet and the final meta; return the summary."""
        ledger, ctx = self.pipe.ledger, self.pipe.context
        summary = session_summary(ledger, self.plan.symbol, self.times, self.values, self.counts,
                           None if math.isnan(ctx.bar_close) else float(ctx.bar_close), self.plan.step)
        try:
            self.emit("session", None, {"event": "end", "status": status, **({"error": error} if error else {}),
                                        "final_equity": summary["final_equity"], "n_trades": summary["n_trades"]})
        except Exception:  # noqa: BLE001 — never mask the original error while closing the log
            pass
        self.log.close(status, summary, error=error, trades=ledger.trades_frame())
        return summary


def session_summary(ledger: Ledger, symbol: str, times: list[pd.Timestamp], equity: list[float], counts: dict[str, int],
             last_close: float | None, step: pd.Timedelta) -> dict[str, Any]:
    final = equity[-1] if equity else ledger.cash
    trades = [{"entry_time": t.entry_time, "exit_time": t.exit_time, "direction": t.direction,
               "entry_price": t.entry_price, "exit_price": t.exit_price, "size": t.size, "pnl": t.pnl,
               "ret": t.ret, "exit_reason": t.exit_reason} for t in ledger.trades[-META_TRADES:]]
    pos = ledger.positions.get(symbol)
    return {
        "bars": len(times),
        "first_bar": times[0] if times else None,
        "last_bar": times[-1] if times else None,
        "last_close_time": times[-1] + step if times else None,
        "initial_cash": ledger.initial_cash,
        "final_equity": float(final),
        "total_return": float(final) / ledger.initial_cash - 1.0,
        "cash": ledger.cash,
        "position": ledger.position(symbol),
        "position_avg_price": pos.avg_price if pos is not None and pos.quantity else None,
        "last_close": last_close,
        "realized_pnl": ledger.realized_pnl,
        "fees_paid": ledger.fees_paid,
        "n_trades": len(ledger.trades),
        "n_orders": counts["orders"],
        "n_fills": counts["fills"],
        "n_denials": counts["denials"],
        "trades": trades,
        "trades_file": "trades.parquet",
    }
