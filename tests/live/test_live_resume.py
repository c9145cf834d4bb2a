"""A live session reconciles with the venue before its first order as a testnet one does (the venue's balances are
the baseline in its start event), and `peaktrade runs resume` resumes a crashed live run through the live runner:
every gate and readiness again, the ramp kept, its lost fill booked once, ledger == venue, no order sent twice; with
a gate closed nothing reaches the venue. The simulator stands in for the venue (as in test_live_run.py); a crash is
simulated as in test_resume_books.py (meta.json says running under a dead pid, the last fill lost with its batch)."""

from __future__ import annotations

import json

import pytest
from test_live_run import CASH, _venue, live, srv, webhook  # noqa: F401 — the stand-in venue and the live config, shared
from test_resume_books import _drop_last_fill

from peaktrade.live.resume import resume_run
from peaktrade.live.runlog import read_events, read_meta
from peaktrade.live.runner import run_live_session
from peaktrade.safety import LiveGateClosed, confirm_token


def _live_run(cfg, **kw):
    return run_live_session("ma_crossover", symbol="BTC/USD", timeframe="1m", params={"fast": 2, "slow": 4},
                            confirm=confirm_token(cfg), order_notional=50.0, config=cfg, warmup=30,
                            handle_signals=False, poll_interval=0.05, **kw)


def _crash(run_dir) -> None:
    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(status="running", pid=999_999_999, pid_start=None, summary=None, ended_at=None)
    meta_path.write_text(json.dumps(meta))


@pytest.fixture
def crashed(live, srv):  # noqa: F811
    """A live run that traded 14 of the last 20 completed bars against the stand-in, crashed with its last fill lost:
    6 bars completed after its last logged one (as if they had while it was down)."""
    cfg = live()
    res = _live_run(cfg, catch_up=20, max_bars=14)
    assert res.status == "completed" and res.summary["n_fills"] >= 2
    _crash(res.run_dir)
    return cfg, res, _drop_last_fill(res.run_dir)


def test_live_run_when_started_then_start_event_carries_the_venue_balances_baseline(live, srv):  # noqa: F811
    cfg = live()
    res = _live_run(cfg, catch_up=3, max_bars=3)
    start = read_events(res.run_dir).of_type("session")[0]["payload"]
    assert start["event"] == "start"
    assert start["reconcile"] == {"balances": {"BTC": 0.0, "USD": CASH}, "open_orders": 0}


def test_runs_resume_when_live_run_crashed_then_fill_booked_once_and_ledger_equals_venue(cli, crashed, srv):  # noqa: F811
    cfg, res, lost = crashed
    sent = list(srv.arrived)
    r = cli("runs", "resume", res.run_id, "--confirm", confirm_token(cfg), "--warmup", "30", "--poll", "0.05",
            "--max-bars", "6")
    assert r.exit_code == 0, r
    assert f"live run {res.run_id} resumed: completed" in r.stdout
    log = read_events(res.run_dir)
    starts = [e["payload"] for e in log.of_type("session") if e["payload"].get("event") == "start"]
    assert len(starts) == 2 and starts[1]["resumed_from"] == "crashed"
    assert starts[1]["ramp"].startswith("ramp day 1 of 14")  # the ramp still caps the resumed run
    assert starts[1]["reconcile"]["looked_up"] == 1  # only the order whose fill the log lost
    resumed = next(e["payload"] for e in log.of_type("session") if e["payload"].get("event") == "resumed")
    assert resumed["fills_booked"] == 1
    again = [e["payload"] for e in log.of_type("fill") if e["payload"]["client_order_id"] == lost["client_order_id"]]
    assert len(again) == 1 and again[0]["quantity"] == pytest.approx(lost["quantity"], rel=1e-12)
    # every order once in the log and once at the venue: none of the dead run's was sent again
    cids = [e["payload"]["client_order_id"] for e in log.of_type("order")]
    wire = [a["cl_ord_id"] for a in srv.arrived]
    assert len(cids) == len(set(cids)) == len(wire) == len(set(wire)) > len(sent)  # it went on trading
    assert wire[:len(sent)] == [a["cl_ord_id"] for a in sent]
    meta = read_meta(res.run_dir)
    s = meta["summary"]
    assert meta["status"] == "completed" and meta["environment"] == "live" and len(meta["resumes"]) == 1
    cash, btc = _venue(srv)
    # the venue reports USD to 4 decimals (Kraken's ZUSD): equal to that precision
    assert s["position"] == pytest.approx(btc, abs=1e-12) and s["cash"] == pytest.approx(cash, abs=5e-5)
    assert s["bars"] == 20  # 14 before the crash, the 6 completed since


def test_runs_resume_when_live_run_and_a_gate_closed_then_nothing_reaches_the_venue(cli, crashed, srv, live):  # noqa: F811
    cfg, res, _lost = crashed
    before = (res.run_dir / "events.jsonl").read_bytes()
    argv = ("runs", "resume", res.run_id, "--warmup", "30", "--max-bars", "4")
    for closed in ("confirm_token", "live_armed"):
        srv.requests.clear()
        srv.arrived.clear()
        if closed == "confirm_token":  # no --confirm: as `live run`, a live resume needs it
            r = cli(*argv)
        else:
            cfg = live(arm=False)
            r = cli(*argv, "--confirm", confirm_token(cfg))
        assert r.exit_code == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, r
        assert r.stderr.startswith(f"error: live trading refused: gate '{closed}' is closed: "), r.stderr
        with pytest.raises(LiveGateClosed, match=closed):  # the API refuses as the CLI does
            resume_run(res.run_id, config=cfg, confirm=confirm_token(cfg) if closed == "live_armed" else None,
                       max_bars=1, handle_signals=False)
        assert srv.requests == [] and srv.arrived == []  # gates 1-3 are decided without contacting the venue
        assert (res.run_dir / "events.jsonl").read_bytes() == before
        assert read_meta(res.run_dir)["pid"] == 999_999_999  # still the crashed run, resumable once the gate opens
