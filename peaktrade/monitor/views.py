"""What the monitors show, as plain data: health, the runs table, one run's detail (TUI and dashboard share it)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peaktrade.live.runlog import RUNNING, EventTail, RunLogError, last_event, list_runs, read_events
from peaktrade.monitor.watchdog import running_sessions, session_health

if TYPE_CHECKING:
    from peaktrade.config import Config


def kill_switch_state(cfg: Config) -> dict[str, Any]:
    """Return the persisted kill switch of every scope (an unreadable file reads as engaged: fail closed)."""
    from peaktrade.safety import SCOPES, KillSwitch

    ks = KillSwitch(cfg.state_dir, None)
    scopes = {}
    for scope in SCOPES:
        st = ks.read(scope)
        scopes[scope] = {"engaged": st.engaged, "state": str(st.state), "reason": st.reason, "since": st.since,
                         "error": st.error}
    return {"engaged": any(s["engaged"] for s in scopes.values()), "scopes": scopes}


def state_dir_writable(path: Path) -> bool:
    """Return whether ``path`` is an existing directory this process may create files in.

    Without side effects (a health probe is a GET, answered as often as a load balancer asks): no directory
    is created, no file written; a missing directory is not writable (the kill switch could not be engaged
    until something creates it)."""
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def health(cfg: Config, *, now: float | None = None) -> tuple[bool, dict[str, Any]]:
    """Return (healthy, report): each running session's heartbeat age, the kill switch, the state directory.

    Unhealthy when a running session missed its heartbeat (hung or gone) or the state directory is not
    writable (the kill switch could not be engaged). An engaged kill switch is reported, not unhealthy: it
    is a deliberate state.
    """
    now = time.time() if now is None else now
    sessions = [h.to_dict() for h in running_sessions(cfg.runs_dir, now=now)]
    writable = state_dir_writable(cfg.state_dir)
    try:
        switch = kill_switch_state(cfg)
    except Exception as e:  # noqa: BLE001 — health must answer; an unreadable switch is unhealthy
        switch = {"engaged": True, "error": f"{type(e).__name__}: {e}"}
    problems = [f"session {s['run_id']} missed its heartbeat" for s in sessions if s["missed"]]
    if not writable:
        why = "is not writable" if cfg.state_dir.is_dir() else "does not exist"
        problems.append(f"state directory {cfg.state_dir} {why}")
    if switch.get("error"):
        problems.append("kill switch state cannot be read")
    ok = not problems
    return ok, {"status": "ok" if ok else "unhealthy", "problems": problems, "sessions": sessions,
                "kill_switch": switch, "state_dir": {"path": str(cfg.state_dir), "writable": writable},
                "runs_dir": str(cfg.runs_dir), "checked_at": now}


def runs_table(cfg: Config, *, limit: int = 50, now: float | None = None) -> list[dict[str, Any]]:
    """Return one row per run (newest first): state, equity, P&L, drawdown, position, heartbeat, counts."""
    now = time.time() if now is None else now
    rows = []
    for info in list_runs(cfg.runs_dir)[:limit]:
        meta = info.meta
        summary = meta.get("summary") if isinstance(meta.get("summary"), dict) else {}
        row: dict[str, Any] = {"run_id": info.run_id, "status": info.status, "environment": info.environment,
                               "strategy": info.strategy, "symbol": info.symbol, "started_at": info.started_at,
                               "equity": info.final_equity, "n_events": info.n_events}
        eq = equity_curve(info.run_dir, last=2000)
        init = summary.get("initial_cash") or (meta.get("options") or {}).get("init_cash")
        vals = [v for _, v in eq]
        row["spark"] = vals[-60:]
        row["pnl"] = (vals[-1] - init) if vals and isinstance(init, (int, float)) else None
        row["pnl_today"] = _pnl_today(eq)
        beat = last_event(info.run_dir, "heartbeat")
        bp = beat["payload"] if beat else {}
        row["last_bar_age"] = bp.get("last_bar_age") if meta.get("status") == RUNNING else None
        row["budget_used"] = bp.get("budget_used")
        peak = max(vals) if vals else None
        row["drawdown"] = (vals[-1] / peak - 1.0) if vals and peak else None
        row["position"] = summary.get("position")
        if meta.get("status") == RUNNING:
            h = session_health(info.run_dir, meta, now=now)
            row.update(heartbeat_age=h.heartbeat_age, missed=h.missed, status=h.status)
        else:
            row.update(heartbeat_age=None, missed=False)
        rows.append(row)
    return rows


def _pnl_today(eq: list[tuple[str | None, float]]) -> float | None:
    """Return equity now minus equity at the last close before the newest point's UTC day (market time)."""
    if not eq or eq[-1][0] is None:
        return None
    day = str(eq[-1][0])[:10]
    before = [v for t, v in eq if t is not None and str(t)[:10] < day]
    start = before[-1] if before else eq[0][1]
    return eq[-1][1] - start


def equity_curve(run_dir: Path, *, last: int = 200) -> list[tuple[str | None, float]]:
    """Return the last ``last`` (time, equity) points of a run's log."""
    try:
        tail = EventTail(run_dir)
        evs = tail.poll()
    except (RunLogError, OSError):
        return []
    pts = [(e.get("time"), float(e["payload"]["equity"])) for e in evs
           if e["type"] == "equity" and isinstance(e["payload"].get("equity"), (int, float))]
    return pts[-last:]


def run_detail(run_dir: Path, *, last: int = 20) -> dict[str, Any]:
    """Return a run's recent orders, fills, denials, monitor events and log tail."""
    try:
        evs = read_events(run_dir, errors="skip").events
    except RunLogError:
        evs = []
    pick = lambda t: [e for e in evs if e["type"] == t][-last:]  # noqa: E731
    return {"orders": pick("order"), "fills": pick("fill"), "denials": pick("denial"),
            "alerts": [e for e in evs if e.get("kind") and e.get("severity") not in ("debug", "info")][-last:],
            "tail": [e for e in evs if e["type"] not in ("bar", "equity")][-last:],
            "equity": equity_curve(run_dir, last=500)}


def signature(cfg: Config) -> tuple[Any, ...]:
    """Return a cheap fingerprint of everything a view shows (file sizes and times): changes when a run writes."""
    out: list[Any] = []
    root = cfg.runs_dir
    try:
        for d in sorted(root.iterdir()):
            for name in ("events.jsonl", "meta.json"):
                try:
                    st = os.stat(d / name)
                    out.append((d.name, name, st.st_size, st.st_mtime_ns))
                except OSError:
                    pass
    except OSError:
        pass
    for name in ("kill_switch.json", *(f"kill_switch.{s}.json" for s in ("paper", "shadow", "testnet", "live"))):
        try:
            out.append((name, os.stat(cfg.state_dir / name).st_mtime_ns))
        except OSError:
            pass
    return tuple(out)
