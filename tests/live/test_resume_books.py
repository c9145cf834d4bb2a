"""``peaktrade runs resume`` against an in-memory venue: a fill lost with the batch in flight is booked from the
venue's trade history exactly once; books that disagree with the venue's balances refuse to resume (fail closed,
the run log untouched, nothing sent); runs that cannot be resumed are one-line errors."""

from __future__ import annotations

import json

import pytest
from testnet_helpers import FakeCcxtKraken, write_testnet_config, zigzag_bars

from peaktrade.config import load_config
from peaktrade.live.resume import ResumeError, resume_run
from peaktrade.live.runlog import read_events
from peaktrade.live.testnet import run_testnet_session


@pytest.fixture
def crashed(tmp_path, clean_env):
    """A testnet run (in-memory venue) whose meta says running under a dead pid: a crashed run."""
    clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(write_testnet_config(tmp_path)))
    cfg = load_config()
    fake = FakeCcxtKraken(price=100.0, cash=1000.0)
    zigzag_bars(fake, 60)
    res = run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=fake, warmup=10, catch_up=40,
                              max_bars=25, handle_signals=False, poll_interval=0.01)
    meta_path = res.run_dir / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(status="running", pid=999_999_999, pid_start=None, summary=None, ended_at=None)
    meta_path.write_text(json.dumps(meta))
    return cfg, fake, res


def _drop_last_fill(run_dir) -> dict:
    """Cut the last fill event out of the log, as if its batch had not reached the disk."""
    path = run_dir / "events.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    i = max(k for k, raw in enumerate(lines) if b'"type":"fill"' in raw)
    lost = json.loads(lines[i])
    path.write_bytes(b"".join(lines[:i] + lines[i + 1:]))
    return lost["payload"]


@pytest.mark.parametrize("history", ["complete", "paged_out"])
def test_resume_when_a_fill_was_lost_with_the_last_batch_then_booked_once_from_the_venue(crashed, history):
    cfg, fake, res = crashed
    lost = _drop_last_fill(res.run_dir)
    if history == "paged_out":  # the trade history's page lacks the order: its own totals are the venue's word
        fake.fetch_my_trades = lambda *a, **kw: []
    sent = fake.count("create_order")
    out = resume_run(res.run_id, config=cfg, exchange=fake, warmup=10, max_bars=15, handle_signals=False,
                     poll_interval=0.01)
    log = read_events(res.run_dir)
    resumed = next(e["payload"] for e in log.of_type("session") if e["payload"].get("event") == "resumed")
    assert resumed["fills_booked"] == 1
    recon = next(e["payload"]["reconcile"] for e in log.of_type("session") if e["payload"].get("resumed_from"))
    assert recon["looked_up"] == 1  # only the order the log had not booked in full
    assert recon["from_order_totals"] == ([lost["client_order_id"]] if history == "paged_out" else [])
    again = [e["payload"] for e in log.of_type("fill") if e["payload"]["client_order_id"] == lost["client_order_id"]]
    assert len(again) == 1 and again[0]["quantity"] == pytest.approx(lost["quantity"], rel=1e-12)
    assert out.status == "completed" and fake.count("create_order") > sent  # it went on trading
    cids = [e["payload"]["client_order_id"] for e in log.of_type("order")]
    assert len(cids) == len(set(cids)) == len(fake.orders)  # every order once, at the venue once
    assert out.ledger.position("BTC/USD") == pytest.approx(fake.balances["BTC"], abs=1e-9)
    assert out.ledger.cash - out.ledger.initial_cash == pytest.approx(fake.balances["USD"] - 1000.0, abs=1e-6)
    # it continued as if never interrupted: the orders of one uninterrupted run over the same 40 bars
    ref_fake = FakeCcxtKraken(price=100.0, cash=1000.0)
    zigzag_bars(ref_fake, 60)
    ref = run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=ref_fake, warmup=10, catch_up=40,
                              max_bars=40, handle_signals=False, poll_interval=0.01)
    key = [(e["time"], e["payload"]["side"], e["payload"]["tag"]) for e in read_events(ref.run_dir).of_type("order")]
    assert [(e["time"], e["payload"]["side"], e["payload"]["tag"]) for e in log.of_type("order")] == key
    assert out.summary["bars"] == ref.summary["bars"] == 40
    assert out.ledger.cash == pytest.approx(ref.ledger.cash, rel=1e-12)
    with pytest.raises(ResumeError, match="is completed .*only a crashed or stopped run can be resumed"):
        resume_run(res.run_id, config=cfg, exchange=fake)


def test_resume_when_the_venue_balance_disagrees_with_the_books_then_refused_and_nothing_sent(crashed):
    cfg, fake, res = crashed
    fake.balances["BTC"] += 0.5  # someone else bought on this account while the run was down
    before = (res.run_dir / "events.jsonl").read_bytes()
    sent = fake.count("create_order")
    with pytest.raises(ResumeError, match=r"the books disagree with the venue: the ledger holds .* BTC .* changed "
                                          r"by .* \(fail closed\)"):
        resume_run(res.run_id, config=cfg, exchange=fake, warmup=10, max_bars=5, handle_signals=False)
    assert (res.run_dir / "events.jsonl").read_bytes() == before and fake.count("create_order") == sent
    assert json.loads((res.run_dir / "meta.json").read_text())["pid"] == 999_999_999


def test_resume_when_the_log_holds_no_start_balances_then_refused_and_nothing_sent(crashed):
    cfg, fake, res = crashed
    path = res.run_dir / "events.jsonl"
    events = [json.loads(line) for line in path.read_bytes().splitlines()]
    for ev in events:  # an older or hand-edited log: no venue balances to check the books against
        if isinstance(ev.get("payload"), dict):
            ev["payload"].pop("reconcile", None)
    path.write_bytes(b"".join(json.dumps(ev).encode() + b"\n" for ev in events))
    before, sent = path.read_bytes(), fake.count("create_order")
    with pytest.raises(ResumeError, match=r"holds no venue balances from its start .* \(fail closed\)"):
        resume_run(res.run_id, config=cfg, exchange=fake, warmup=10, max_bars=5, handle_signals=False)
    assert path.read_bytes() == before and fake.count("create_order") == sent


def test_runs_resume_when_run_is_not_resumable_then_one_line_error(cli, crashed, tmp_path):
    cfg, _fake, res = crashed
    meta_path = res.run_dir / "meta.json"
    meta = json.loads(meta_path.read_text())
    for change, expected in (({"environment": "paper"}, "is a paper session: `peaktrade runs resume` resumes "
                                                        "testnet and live runs"),
                             ({"status": "completed"}, "is completed (it ended as planned)")):
        meta_path.write_text(json.dumps(meta | change))
        r = cli("runs", "resume", res.run_id)
        assert r.exit_code != 0 and r.stdout == ""
        assert expected in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = cli("runs", "resume", "no-such-run")
    assert r.exit_code != 0 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
