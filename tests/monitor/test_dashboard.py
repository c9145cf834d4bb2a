"""The web dashboard: /health (GET and HEAD, 503 when unhealthy), bearer-token actions, 50 concurrent SSE
clients against a real `peaktrade dashboard` process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest
from alerts.receivers import free_port
from cdp import CHROMIUM, Browser
from fastapi.testclient import TestClient
from helpers import write_toml

from peaktrade.config import load_config
from peaktrade.data import load_bars
from peaktrade.live.runlog import RunLog, RunLogError, last_event, read_meta
from peaktrade.live.session import run_session
from peaktrade.monitor import watchdog_events
from peaktrade.monitor.dashboard import create_app
from peaktrade.safety import KillSwitch

TOKEN = "dash-t0ken-for-tests"
TEST_CONFIG = Path(__file__).resolve().parents[2] / "config" / "config.test.toml"


def _client(app):
    return TestClient(app, base_url="http://127.0.0.1")  # a Host the dashboard answers to


def test_request_when_host_header_is_not_loopback_or_the_bound_host_then_400(make_cfg):
    cfg = make_cfg(monitor={"dashboard_host": "127.0.0.1"})
    app = create_app(cfg, token=TOKEN, host="10.1.2.3")
    for host in ("127.0.0.1:8765", "localhost", "10.1.2.3:8765"):
        assert TestClient(app, base_url=f"http://{host}").get("/health").status_code in (200, 503), host
    # DNS rebinding: the attacker's name resolves to 127.0.0.1, the browser sends it as Host
    evil = TestClient(app, base_url="http://rebind.attacker.example:8765")
    assert evil.get("/api/runs").status_code == 400
    r = evil.post("/api/kill-switch/engage", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 400 and not KillSwitch(cfg.state_dir, "paper").status().engaged


def test_health_when_probed_then_nothing_created_or_written_and_missing_state_dir_is_503(make_cfg, tmp_path):
    def tree_hashes(root):  # every file (hidden ones too) with its size and modification time
        return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}

    state = tmp_path / "probe-state"
    cfg = make_cfg(safety={"state_dir": str(state)})
    client = _client(create_app(cfg))
    assert state.is_dir()  # created once, when the dashboard starts
    before = tree_hashes(tmp_path)
    for _ in range(3):
        assert client.get("/health").status_code == 200 and client.head("/health").status_code == 200
    assert tree_hashes(tmp_path) == before and list(state.iterdir()) == []
    state.rmdir()
    r = client.get("/health")
    assert r.status_code == 503 and client.head("/health").status_code == 503
    assert r.json()["problems"] == [f"state directory {state} does not exist"] and not state.exists()


def test_health_when_sessions_heartbeat_then_200_and_when_one_is_late_then_503(make_cfg):
    cfg = make_cfg(monitor={"heartbeat_seconds": 10.0})
    late = [0.0]
    client = _client(create_app(cfg, clock=lambda: time.time() + late[0]))
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["state_dir"]["writable"] is True
    assert client.head("/health").status_code == 200
    log = RunLog.create(cfg.runs_dir, "20240101-000000-paper-s-cccccc", {"environment": "paper", "heartbeat_seconds": 10.0})
    log.event("heartbeat", None, {"n": 1})
    log.flush()
    doc = client.get("/health").json()
    assert doc["sessions"][0]["run_id"] == "20240101-000000-paper-s-cccccc" and doc["sessions"][0]["missed"] is False
    late[0] = 21.0  # more than two intervals without an event
    r = client.get("/health")
    assert r.status_code == 503 and r.json()["problems"] == ["session 20240101-000000-paper-s-cccccc missed its heartbeat"]
    assert client.head("/health").status_code == 503
    log.close("completed")
    assert client.get("/health").status_code == 200


def test_health_when_state_dir_not_writable_then_503(make_cfg, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cfg = make_cfg(safety={"state_dir": str(blocker / "state")})
    r = _client(create_app(cfg)).get("/health")
    assert r.status_code == 503 and r.json()["state_dir"]["writable"] is False


def test_actions_when_no_token_configured_then_403_and_when_token_wrong_then_401(make_cfg):
    cfg = make_cfg()
    r = _client(create_app(cfg)).post("/api/kill-switch/engage", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 403 and "disabled" in r.json()["detail"]
    client = _client(create_app(cfg, token=TOKEN))
    assert client.post("/api/kill-switch/engage").status_code == 401
    assert client.post("/api/kill-switch/engage", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/api/kill-switch/engage", headers={"Authorization": TOKEN}).status_code == 401
    assert not KillSwitch(cfg.state_dir, "paper").status().engaged
    r = client.post("/api/kill-switch/engage", headers={"Authorization": f"Bearer {TOKEN}"}, data={"reason": "t"})
    assert r.status_code == 200 and KillSwitch(cfg.state_dir, "paper").status().engaged
    r = client.post("/api/kill-switch/release", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and not KillSwitch(cfg.state_dir, "paper").status().engaged
    assert client.post("/api/runs/nosuchrun/stop", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_dashboard_when_started_with_no_browser_connected_then_watchdog_raises_missed_heartbeat(make_cfg):
    cfg = make_cfg(monitor={"heartbeat_seconds": 0.2})
    run_id = "20240101-000000-paper-s-eeeeee"
    log = RunLog.create(cfg.runs_dir, run_id, {"environment": "paper", "heartbeat_seconds": 0.2})
    log.event("heartbeat", None, {"n": 1})
    log.flush()  # then silence: a stalled session (meta says running, this process is alive)
    app = create_app(cfg, token=TOKEN)
    with _client(app):  # start-up (lifespan) ran; no /events subscriber at any point
        assert app.state.hub.clients == set()
        deadline = time.monotonic() + 30
        while not watchdog_events(cfg.runs_dir):
            assert time.monotonic() < deadline, "the dashboard's watchdog raised nothing"
            time.sleep(0.05)
        (ev,) = watchdog_events(cfg.runs_dir)
        assert ev["kind"] == "heartbeat_missed" and ev["run_id"] == run_id
        task = app.state.hub.task
    assert app.state.hub.task is None and task.done()  # shutdown stopped the loop
    log.close("completed")


def test_run_fragment_when_run_has_orders_and_fills_then_shows_them_sparkline_and_escapes_hostile_values(make_cfg):
    cfg = make_cfg()
    run_id = "20240101-000000-paper-s-ffffff"
    log = RunLog.create(cfg.runs_dir, run_id, {"environment": "paper"})
    for i, eq in enumerate((1000.0, 1010.0, 995.0)):
        log.event("equity", f"2024-01-01T0{i}:00:00", {"equity": eq})
    log.event("order", "2024-01-01T01:00:00", {"side": "buy", "quantity": 0.25, "price": 42000.5})
    log.event("fill", "2024-01-01T01:00:00", {"side": "buy", "quantity": 0.25, "price": 42001.5})
    log.event("denial", "2024-01-01T02:00:00", {"reason": "<script>window.__xss=1</script> & max notional"})
    log.close("completed")
    client = _client(create_app(cfg))
    table = client.get("/fragments/runs").text
    assert f'data-detail="/fragments/runs/{run_id}"' in table
    r = client.get(f"/fragments/runs/{run_id}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert f'data-run="{run_id}"' in r.text and '<svg class="spark"' in r.text and "equity 995.00" in r.text
    assert "orders (1 shown)" in r.text and "fills (1 shown)" in r.text and "denials (1 shown)" in r.text
    assert "buy 0.25 @ 42000.5" in r.text and "buy 0.25 @ 42001.5" in r.text
    assert "<script>" not in r.text and "&lt;script&gt;window.__xss=1&lt;/script&gt; &amp; max notional" in r.text
    assert 'id="detail"' in client.get("/").text  # the panel the rows load into


def test_run_fragment_when_ref_unknown_then_404_fragment_with_escaped_ref(make_cfg):
    r = _client(create_app(make_cfg())).get("/fragments/runs/<b>nosuchrun")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "<b>" not in r.text and "&lt;b&gt;nosuchrun" in r.text


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `peaktrade dashboard` process on loopback (token set); yields (base url, config, tmp dir)."""
    tmp = tmp_path_factory.mktemp("dash")
    data = tomllib.loads(TEST_CONFIG.read_text(encoding="utf-8"))
    data["data"]["dir"] = str(tmp / "store")
    data["runs"]["dir"] = str(tmp / "runs")
    data.setdefault("monitor", {})["heartbeat_seconds"] = 30.0
    data.setdefault("safety", {})["state_dir"] = str(tmp / "state")
    path = write_toml(tmp / "peaktrade-test.toml", data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAKTRADE__")}
    env.update(PEAK_TRADE_CONFIG_PATH=str(path), PEAKTRADE_DASHBOARD_TOKEN=TOKEN)
    env.pop("PEAKTRADE_ALERT_URLS", None)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "peaktrade.cli.main", "dashboard", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.communicate()
        try:
            if httpx.get(base + "/health", timeout=2).status_code in (200, 503):
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "dashboard did not start"
        time.sleep(0.1)
    old = os.environ.get("PEAK_TRADE_CONFIG_PATH")
    os.environ["PEAK_TRADE_CONFIG_PATH"] = str(path)
    try:
        yield base, load_config(), tmp, env
    finally:
        if old is None:
            os.environ.pop("PEAK_TRADE_CONFIG_PATH", None)
        else:
            os.environ["PEAK_TRADE_CONFIG_PATH"] = old
        proc.terminate()
        proc.wait(timeout=30)


def test_sse_when_50_clients_connected_and_a_run_writes_then_every_client_gets_the_update(server):
    base, cfg, _, _ = server

    async def one(client, ready):
        async with client.stream("GET", base + "/events", timeout=60) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            seen_hello = update = False
            async for line in r.aiter_lines():
                if line == "event: hello":
                    seen_hello = True
                    ready.append(1)
                elif line == "event: update" and seen_hello and len(ready) >= 50:
                    update = True
                elif update and line.startswith("data: "):
                    update = False  # the first poll after a client connects may publish one naming no run
                    if json.loads(line[6:])["runs"]:  # names the run that changed: an open drill-down refreshes
                        return json.loads(line[6:])["runs"]
        return None

    async def main():
        ready: list[int] = []
        limits = httpx.Limits(max_connections=60)
        async with httpx.AsyncClient(limits=limits) as client:
            tasks = [asyncio.create_task(one(client, ready)) for _ in range(50)]
            while len(ready) < 50:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            log = RunLog.create(cfg.runs_dir, "20240101-000000-paper-s-dddddd", {"environment": "paper"})
            log.event("heartbeat", None, {"n": 1})
            log.close("completed")
            return await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)

    assert asyncio.run(main()) == [["20240101-000000-paper-s-dddddd"]] * 50


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (CI: apt-get install -y chromium chromium-driver)")
def test_dashboard_in_chromium_when_paper_replay_writes_then_sse_updates_and_kill_switch_needs_token(server):
    base, cfg, tmp, _ = server
    load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg)
    b = Browser(tmp)
    try:
        b.call("Page.navigate", url=base + "/")
        b.wait("document.getElementById('sse-state') && document.getElementById('sse-state').textContent === 'connected'")
        before = b.eval("window.__peaktrade.updates")
        res = run_session("ma_crossover", exchange="synthetic", replay="2020-01-05:2020-01-07",
                          params={"fast": 3, "slow": 8}, config=cfg, checks=[], handle_signals=False)
        b.wait(f"window.__peaktrade.updates > {before} && "
               f"document.querySelector('#runs tr[data-run=\"{res.run_id}\"]') !== null")
        b.wait(f"document.querySelector('#runs tr[data-run=\"{res.run_id}\"]').className === 'completed'")
        b.eval(f"document.querySelector('#runs tr[data-run=\"{res.run_id}\"] td').click()")  # drill down
        b.wait(f"document.querySelector('#detail .run-detail[data-run=\"{res.run_id}\"] svg.spark') !== null")
        b.eval("document.getElementById('engage').click()")  # no token typed: refused
        assert "refused (401)" in b.wait("document.getElementById('action-result').textContent.includes('refused')"
                                         " && document.getElementById('action-result').textContent")
        assert not KillSwitch(cfg.state_dir, "paper").status().engaged
        # a refusal's detail quoting a script-carrying run id is shown as text, never run as HTML
        b.eval(f"document.getElementById('token').value = '{TOKEN}'")
        b.eval("htmx.ajax('POST', '/api/runs/<img src=x onerror=window.__xss=1>/stop', {target: '#action-result'})")
        shown = b.wait("document.getElementById('action-result').textContent.includes('refused (404)') && "
                       "document.getElementById('action-result').textContent")
        assert "<img src=x onerror=window.__xss=1>" in shown
        assert b.eval("document.querySelector('#action-result img') === null && window.__xss === undefined")
        b.eval("document.getElementById('engage').click()")
        b.wait("document.getElementById('action-result').textContent.includes('kill switch engaged')")
        assert KillSwitch(cfg.state_dir, "paper").status().engaged
        b.wait("document.getElementById('kill-switch-state').textContent.includes('ENGAGED')")
        shot = b.screenshot(tmp / "dashboard.png")
        print(f"\ndashboard screenshot: {shot}")
        assert shot.stat().st_size > 10_000
        assert b.errors == []
    finally:
        b.close()
        KillSwitch(cfg.state_dir, None).reset(confirm=True, scope="all")


def test_stop_when_real_paper_session_runs_then_refused_without_token_and_stopped_with_it(server):
    base, cfg, _, env = server
    load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg)
    proc = subprocess.Popen(
        [sys.executable, "-m", "peaktrade.cli.main", "paper", "run", "--strategy", "ma_crossover", "--exchange",
         "synthetic", "--param", "fast=3", "--param", "slow=8", "--replay", ":", "--speed", "20", "--quiet"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        run_dir = _wait_for_session(cfg.runs_dir, proc)
        url = f"{base}/api/runs/{run_dir.name}/stop"
        assert httpx.post(url, timeout=10).status_code == 401
        assert httpx.post(url, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
        time.sleep(0.3)  # a refused stop must leave the session running
        assert proc.poll() is None and read_meta(run_dir)["status"] == "running"
        r = httpx.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert r.status_code == 200 and f"pid {proc.pid}" in r.text, r.text
        assert proc.wait(timeout=120) == 0, proc.stderr.read()  # generous: 2 shared cores, a busy machine
        assert read_meta(run_dir)["status"] == "stopped"
        assert httpx.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).status_code == 409
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _wait_for_session(runs_dir, proc, timeout=90.0):
    """Return the run directory of the session process ``proc`` once it has written an event."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        for d in runs_dir.iterdir() if runs_dir.exists() else []:
            try:
                if read_meta(d).get("pid") == proc.pid and last_event(d):
                    return d
            except RunLogError:  # noqa: S112 — a run directory being created: look again
                continue
        time.sleep(0.05)
    raise AssertionError("the session started no run in time")
