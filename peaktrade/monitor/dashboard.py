"""The web dashboard: FastAPI + htmx (vendored in ``static/``) + server-sent events; nothing from a CDN.

``GET /`` the page; ``GET /fragments/runs`` the runs table (htmx swaps it); ``GET /fragments/runs/{ref}`` one
run's drill-down (equity sparkline, recent orders, fills, denials, log tail: what ``peaktrade monitor`` shows on
enter); ``GET /events`` an SSE stream (``update`` whenever a run log, a meta or the kill switch changes, naming
the runs that changed; ``alert`` for each missed heartbeat);
``GET|HEAD /health`` real health as JSON (503 when unhealthy); ``GET /api/runs[/{id}]`` JSON.
State-changing actions are ``POST /api/...`` and need ``Authorization: Bearer $PEAKTRADE_DASHBOARD_TOKEN``
(compared in constant time); without a configured token they are disabled (403).
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import os
import signal
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from peaktrade.live.runlog import RUNNING, RunLogError, find_run, pid_alive, read_meta
from peaktrade.monitor.views import health, kill_switch_state, run_detail, runs_table, signature
from peaktrade.monitor.watchdog import Watchdog, check_every

if TYPE_CHECKING:
    from peaktrade.config import Config

#: Seconds between two looks at the runs directory (one poller for all SSE clients, and the watchdog).
POLL_SECONDS = 0.25


class Broadcaster:
    """One poller of the runs directory and the watchdog, from the app's start-up to its shutdown; every SSE
    client gets its own queue of messages."""

    def __init__(self, cfg: Config, watchdog: Watchdog, every: float) -> None:
        self.cfg, self.watchdog, self.every = cfg, watchdog, every
        self.clients: set[asyncio.Queue[str]] = set()
        self.task: asyncio.Task[None] | None = None
        self.version = 0
        self._last_check = 0.0

    def subscribe(self) -> asyncio.Queue[str]:
        q: asyncio.Queue[str] = asyncio.Queue(maxsize=100)
        self.clients.add(q)
        self.start()  # already running under the app's lifespan; started here when served without one
        return q

    def start(self) -> None:
        """Start the poll loop (watchdog checks and publishing) unless it runs already."""
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        """Stop the poll loop and wait until it has ended."""
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None

    def publish(self, event: str, data: dict[str, Any]) -> None:
        msg = f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"
        for q in list(self.clients):
            if q.full():  # a client that does not read loses old messages, never blocks the others
                try:
                    q.get_nowait()
                except asyncio.QueueEmpty:
                    pass
            q.put_nowait(msg)

    async def _poll(self) -> None:
        last = None
        loop = asyncio.get_running_loop()
        while True:  # from start-up to shutdown: the watchdog runs with no browser connected
            sig = await loop.run_in_executor(None, signature, self.cfg) if self.clients else last
            if sig != last:
                # the runs whose log or meta changed: an open drill-down refreshes only when its run did
                changed = sorted({x[0] for x in set(sig or ()) ^ set(last or ()) if len(x) == 4})
                last = sig
                self.version += 1
                self.publish("update", {"version": self.version, "runs": changed})
            now = loop.time()
            if now - self._last_check >= self.watchdog.every(self.every):
                self._last_check = now
                for ev in await loop.run_in_executor(None, self.watchdog.check):
                    self.publish("alert", ev.to_dict())
            await asyncio.sleep(min(POLL_SECONDS, self.watchdog.every(self.every)))


def _static(name: str) -> str:
    return resources.files("peaktrade.monitor").joinpath("static", name).read_text(encoding="utf-8")


def _fmt(v: Any, spec: str = ",.2f") -> str:
    return "–" if v is None else format(v, spec)


def _spark(vals: list[float], w: int = 120, h: int = 24) -> str:
    if len(vals) < 2:
        return ""
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    pts = " ".join(f"{i * w / (len(vals) - 1):.1f},{h - (v - lo) / span * h:.1f}" for i, v in enumerate(vals))
    return f'<svg class="spark" width="{w}" height="{h}"><polyline fill="none" stroke="#2a7" points="{pts}"/></svg>'


def render_runs(cfg: Config) -> str:
    """Return the runs table and the kill-switch line (HTML fragment)."""
    e = html.escape
    rows = runs_table(cfg)
    ks = kill_switch_state(cfg)
    state = "ENGAGED (halted)" if ks["engaged"] else "released (active)"
    out = [f'<p id="kill-switch-state" class="{"engaged" if ks["engaged"] else "active"}">kill switch: {state}</p>',
           f'<p class="count">{len(rows)} run(s)</p>', "<table><thead><tr><th>run</th><th>state</th><th>env</th>"
           "<th>strategy</th><th>equity</th><th>P&amp;L</th><th>today</th><th>drawdown</th><th>position</th>"
           "<th>last bar</th><th>heartbeat</th><th>budget</th><th>equity curve</th><th></th></tr></thead><tbody>"]
    for r in rows:
        hb = "–" if r["heartbeat_age"] is None else f'{r["heartbeat_age"]:.1f} s' + (" MISSED" if r["missed"] else "")
        stop = (f'<button class="stop" hx-post="/api/runs/{e(r["run_id"])}/stop" hx-target="#action-result">stop'
                "</button>" if r["status"] == RUNNING else "")
        url = "/fragments/runs/" + urllib.parse.quote(r["run_id"], safe="")
        out.append(f'<tr data-run="{e(r["run_id"])}" class="{e(r["status"])}" data-detail="{e(url)}"><td>{e(r["run_id"])}</td>'
                   f'<td>{e(r["status"])}</td><td>{e(r["environment"])}</td><td>{e(r["strategy"])} {e(r["symbol"])}</td>'
                   f'<td>{_fmt(r["equity"])}</td><td>{_fmt(r["pnl"], "+,.2f")}</td>'
                   f'<td>{_fmt(r["pnl_today"], "+,.2f")}</td><td>{_fmt(r["drawdown"], ".2%")}</td>'
                   f'<td>{_fmt(r["position"], ".6g")}</td><td>{_fmt(r["last_bar_age"], ",.0f")}</td><td>{hb}</td>'
                   f'<td>{_fmt(r["budget_used"], ".0%")}</td><td>{_spark(r["spark"])}</td><td>{stop}</td></tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _what(p: dict[str, Any]) -> str:
    """Return an event's one-line gist (as the TUI shows it): its reason or event, else side quantity @ price."""
    return str(p.get("reason") or p.get("event")
               or f"{p.get('side', '')} {p.get('quantity', '')} @ {p.get('price', '')}")


def render_run(run_id: str, detail: dict[str, Any]) -> str:
    """Return one run's drill-down (HTML fragment) from :func:`~peaktrade.monitor.views.run_detail`; every value
    from the run's log is escaped. It re-fetches itself on ``refresh`` (sent by the page when this run changed)."""
    e = html.escape
    url = "/fragments/runs/" + urllib.parse.quote(run_id, safe="")
    vals = [v for _, v in detail["equity"]]
    last = f"equity {_fmt(vals[-1])}" if vals else "no equity yet"
    out = [f'<div class="run-detail" data-run="{e(run_id)}" hx-get="{e(url)}" hx-trigger="refresh" '
           f'hx-target="#detail"><h2>run {e(run_id)}</h2>',
           f'<p class="equity">{_spark(vals, w=480, h=60)} {last} ({len(vals)} points)</p>']
    for key, title in (("orders", "orders"), ("fills", "fills"), ("denials", "denials"), ("tail", "log tail")):
        evs = detail[key]
        out.append(f'<h3>{title} ({len(evs)} shown)</h3><table class="{key}"><tbody>')
        for ev in evs:
            p = ev.get("payload") if isinstance(ev.get("payload"), dict) else {}
            out.append(f'<tr><td>{e(str(ev.get("seq", "")))}</td><td>{e(str(ev.get("type", "")))}</td>'
                       f'<td>{e(str(ev.get("time") or "")[:19])}</td><td>{e(_what(p))}</td></tr>')
        out.append("</tbody></table>")
    out.append("</div>")
    return "\n".join(out)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>peaktrade dashboard</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; }} table {{ border-collapse: collapse; }}
td, th {{ padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: left; }}
#runs tbody tr {{ cursor: pointer; }} #detail table {{ font-size: 13px; }}
tr.crashed td, .engaged {{ color: #b00; }} .active {{ color: #070; }} #alerts li {{ color: #b00; }}
</style>
<script src="/static/htmx.min.js"></script>
<script src="/static/dashboard.js" defer></script>
</head><body>
<h1>peaktrade — sessions</h1>
<p>live: <span id="sse-state">connecting</span>, updates <span id="sse-count">0</span></p>
<section id="actions">
  <label>token <input id="token" type="password" autocomplete="off" placeholder="PEAKTRADE_DASHBOARD_TOKEN"></label>
  <button id="engage" hx-post="/api/kill-switch/engage" hx-vals='{{"reason": "dashboard"}}'
          hx-target="#action-result">engage kill switch</button>
  <button id="release" hx-post="/api/kill-switch/release" hx-target="#action-result"
          hx-confirm="Release the kill switch? Orders will be sent again.">release kill switch</button>
  <span id="action-result">{actions}</span>
</section>
<div id="runs" hx-get="/fragments/runs" hx-trigger="refresh">{runs}</div>
<section id="detail"><p>click a run to drill down</p></section>
<h2>alerts</h2><ul id="alerts"></ul>
</body></html>
"""


#: Host names the dashboard always answers to (loopback); see :func:`allowed_hosts`.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def allowed_hosts(*hosts: str | None) -> list[str]:
    """Return the ``Host`` header values the dashboard answers to: loopback and the bound ``hosts``.

    Anything else is refused (400) so a web page cannot reach the dashboard through DNS rebinding (a name
    of the attacker's that resolves to 127.0.0.1). Bound to every interface (``0.0.0.0``/``::``), the
    machine's own names are added; a reverse proxy must pass one of these names as ``Host``."""
    out = list(LOOPBACK_HOSTS)
    for h in hosts:
        if not h:
            continue
        if h in ("0.0.0.0", "::", "[::]"):  # noqa: S104 — a name to allow, not an address to bind
            out += [socket.gethostname(), socket.getfqdn()]
        else:
            out.append(h)
    return list(dict.fromkeys(x.lower() for x in out if x))


def create_app(cfg: Config, *, token: str | None = None, every: float | None = None,
               clock: Callable[[], float] = time.time, host: str | None = None) -> FastAPI:
    """Return the dashboard app of ``cfg`` (``token`` default: ``PEAKTRADE_DASHBOARD_TOKEN``; ``clock``: epoch s;
    ``host``: the address it is bound to, allowed as ``Host`` besides loopback and ``[monitor] dashboard_host``)."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from peaktrade.alerts import AlertDispatcher

    if token is None and cfg.secrets.dashboard_token is not None:
        token = cfg.secrets.dashboard_token.get_secret_value()
    token = token or None
    every = every if every is not None else check_every(cfg.monitor.heartbeat_seconds)
    dispatcher = AlertDispatcher.from_config(cfg)
    hub = Broadcaster(cfg, Watchdog(cfg.runs_dir, alerts=dispatcher), every)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.start()  # the dashboard runs the watchdog: "heartbeat missed" is raised with no page open
        try:
            yield
        finally:
            await hub.stop()
            if dispatcher is not None:
                dispatcher.close()  # queued alerts are still delivered (or dead-lettered) at exit

    app = FastAPI(title="peaktrade dashboard", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(cfg.monitor.dashboard_host, host))
    try:  # once, at start (not in /health, which has no side effects): the kill switch lives there
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # /health reports it
    app.state.hub = hub

    def authorize(authorization: str | None) -> None:
        if token is None:
            raise HTTPException(403, "actions are disabled: no PEAKTRADE_DASHBOARD_TOKEN is configured")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(401, "refused: Authorization: Bearer <PEAKTRADE_DASHBOARD_TOKEN> is required",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        actions = "" if token else "actions disabled (no PEAKTRADE_DASHBOARD_TOKEN)"
        return PAGE.format(runs=render_runs(cfg), actions=actions)

    @app.get("/fragments/runs", response_class=HTMLResponse)
    def runs_fragment() -> str:
        return render_runs(cfg)

    @app.get("/fragments/runs/{ref}", response_class=HTMLResponse)
    def run_fragment(ref: str) -> HTMLResponse:
        try:
            d = find_run(cfg.runs_dir, ref)
        except RunLogError as err:
            return HTMLResponse(f'<p class="not-found">{html.escape(str(err))}</p>', status_code=404)
        return HTMLResponse(render_run(d.name, run_detail(d)))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in ("htmx.min.js", "dashboard.js"):
            raise HTTPException(404, "not found")
        return Response(_static(name), media_type="text/javascript")

    @app.api_route("/health", methods=["GET", "HEAD"])
    def get_health(request: Request) -> Response:
        ok, doc = health(cfg, now=clock())
        return JSONResponse(doc, status_code=200 if ok else 503)

    @app.get("/api/runs")
    def api_runs() -> list[dict[str, Any]]:
        return runs_table(cfg)

    @app.get("/api/runs/{ref}")
    def api_run(ref: str) -> dict[str, Any]:
        try:
            d = find_run(cfg.runs_dir, ref)
        except RunLogError as e:
            raise HTTPException(404, str(e)) from None
        return {"meta": read_meta(d), **run_detail(d)}

    @app.get("/events")
    async def events(request: Request) -> StreamingResponse:
        q = hub.subscribe()

        async def stream():
            try:
                yield f"event: hello\ndata: {json.dumps({'version': hub.version})}\n\n"
                while not await request.is_disconnected():
                    try:
                        yield await asyncio.wait_for(q.get(), timeout=15.0)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
            finally:
                hub.clients.discard(q)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/api/kill-switch/engage", response_class=HTMLResponse)
    async def engage(request: Request, authorization: str | None = Header(None)) -> str:
        authorize(authorization)
        reason = "dashboard"
        try:
            form = await request.form()
            reason = str(form.get("reason") or reason)
        except Exception:  # noqa: BLE001 — a body that is not a form keeps the default reason
            pass
        from peaktrade.safety import DecisionLog, KillSwitch

        st = KillSwitch(cfg.state_dir, None, log=DecisionLog.from_config(cfg)).engage(reason, scope="all",
                                                                                      source="dashboard")
        return f"kill switch engaged: {html.escape(st.describe())}"

    @app.post("/api/kill-switch/release", response_class=HTMLResponse)
    def release(authorization: str | None = Header(None)) -> str:
        authorize(authorization)
        from peaktrade.safety import DecisionLog, KillSwitch

        st = KillSwitch(cfg.state_dir, None, log=DecisionLog.from_config(cfg)).reset(confirm=True, scope="all",
                                                                                     reason="dashboard")
        return f"kill switch released: {html.escape(st.describe())}"

    @app.post("/api/runs/{ref}/stop", response_class=HTMLResponse)
    def stop_run(ref: str, authorization: str | None = Header(None)) -> str:
        authorize(authorization)
        try:
            meta = read_meta(find_run(cfg.runs_dir, ref))
        except RunLogError as e:
            raise HTTPException(404, str(e)) from None
        pid = meta.get("pid")
        if meta.get("status") != RUNNING or not isinstance(pid, int) or not pid_alive(pid, meta.get("pid_start")):
            raise HTTPException(409, f"run {meta.get('run_id')} is not running")
        if meta.get("host") not in (None, socket.gethostname()):
            raise HTTPException(409, f"run {meta.get('run_id')} runs on host {meta.get('host')}: stop it there")
        os.kill(pid, signal.SIGTERM)  # the session finishes its bar, writes its summary and ends "stopped"
        return f"stop requested: SIGTERM sent to run {html.escape(str(meta.get('run_id')))} (pid {pid})"

    return app


def serve(cfg: Config, *, host: str, port: int) -> None:
    """Run the dashboard with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(cfg, host=host), host=host, port=port, log_level="warning")
