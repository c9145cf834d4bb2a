"""``peaktrade paper run``, ``shadow run`` and ``runs list|show|tail`` in-process, real safety layer."""

from __future__ import annotations

import json

import pytest

from peaktrade.live.runlog import list_runs, read_meta


@pytest.fixture
def live_cli(cfg, cli):
    """The CLI on an isolated test config; returns ``run(*argv)``."""
    return cli


def _paper(live_cli, *extra):
    return live_cli("paper", "run", "--strategy", "ma_crossover", "--exchange", "synthetic", "--param", "fast=5",
                    "--param", "slow=20", *extra)


def test_paper_run_replay_prints_summary_and_writes_run_when_replay_given(cfg, live_cli):
    r = _paper(live_cli, "--replay", "2020-01-05:2020-01-12", "--warmup", "24", "--fees", "0.002")
    assert r.exit_code == 0, r.stderr
    (info,) = list_runs(cfg.runs_dir)
    assert f"paper session {info.run_id}" in r.stdout and "fill" in r.stdout
    assert "final equity" in r.stdout and "completed" in r.stdout and str(info.run_dir) in r.stdout.replace("\n", "")
    meta = read_meta(info.run_dir)
    assert meta["options"]["fees"] == 0.002 and meta["summary"]["bars"] == 168 and meta["warmup"]["bars"] == 24


def test_runs_list_show_tail_describe_the_run_when_it_exists(cfg, live_cli):
    assert _paper(live_cli, "--replay", "2020-01-05:2020-01-08", "--quiet").exit_code == 0
    (info,) = list_runs(cfg.runs_dir)
    r = live_cli("runs", "list")
    assert r.exit_code == 0, r.stderr
    for needle in ("id", "environment", "strategy", "symbol", "status", "start", "events", "final equity",
                   info.run_id, "paper", "ma_crossover", "BTC/USD", "completed", f"{info.n_events:,}",
                   f"{info.final_equity:,.2f}"):
        assert needle in r.stdout, needle
    r = live_cli("runs", "show", info.run_id[:20], "--events", "3")
    assert r.exit_code == 0, r.stderr
    for needle in ("status", "completed", "config hash", read_meta(info.run_dir)["config_hash"], "summary",
                   "final_equity", "last 3 of", "event=end"):
        assert needle in r.stdout, needle
    r = live_cli("runs", "tail", info.run_id, "-n", "2", "--json")
    lines = r.stdout.strip().splitlines()
    assert r.exit_code == 0 and len(lines) == 2 and json.loads(lines[-1])["payload"]["event"] == "end"
    r = live_cli("runs", "tail", info.run_id, "--follow", "--timeout", "5")
    assert r.exit_code == 0 and f"run {info.run_id} is completed" in r.stdout  # final: returns at once


def test_runs_list_says_so_when_no_runs(cfg, live_cli):
    r = live_cli("runs", "list")
    assert r.exit_code == 0 and "no runs in" in r.stdout


@pytest.mark.parametrize("argv,needle", [
    (["paper", "run", "--strategy", "ma_crossover", "--exchange", "synthetic", "--symbol", "DOGE/XYZ",
      "--replay", ":"], "no synthetic DOGE/XYZ bars"),
    (["paper", "run", "--strategy", "ma_crossover", "--exchange", "synthetic"], "give --replay START:END"),
    (["paper", "run", "--strategy", "ma_crossover", "--replay", ":", "--poll-exchange"], "exclusive"),
    (["paper", "run", "--strategy", "ma_crossover", "--poll-exchange", "--speed", "2"], "--speed paces a replay"),
    (["paper", "run", "--strategy", "ma_crossover", "--replay", ":", "--live"], "renamed --poll-exchange"),
    (["paper", "run", "--strategy", "ma_crossover", "--live"], "renamed --poll-exchange"),
    (["shadow", "run", "--strategy", "ma_crossover", "--live"], "shadow sessions always poll the exchange"),
    (["paper", "run", "--strategy", "nope", "--exchange", "synthetic", "--replay", ":"], "nope"),
    (["paper", "run", "--strategy", "ma_crossover", "--exchange", "synthetic", "--replay", "later:"],
     "replay='later:' is invalid"),
    (["paper", "run", "--strategy", "ma_crossover", "--exchange", "synthetic", "--replay", ":", "--param", "x"],
     "--param 'x' is invalid"),
    (["shadow", "run", "--strategy", "ma_crossover", "--exchange", "synthetic"], "'synthetic' is offline demo data"),
    (["runs", "show", "nothing-like-this"], "no run 'nothing-like-this'"),
])
def test_cli_prints_one_line_and_exit_2_when_input_is_bad(cfg, live_cli, argv, needle):
    r = live_cli(*argv)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert not cfg.runs_dir.exists() or not any(cfg.runs_dir.iterdir())


def test_paper_run_refuses_to_start_when_safety_layer_missing(cfg, cli, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "peaktrade.safety", None)
    r = cli("paper", "run", "--strategy", "ma_crossover", "--exchange", "synthetic", "--replay", ":")
    assert r.exit_code == 2 and "fail closed" in r.stderr
    assert not cfg.runs_dir.exists()


def test_runs_show_names_the_line_when_log_corrupted(cfg, live_cli, snapshot):
    assert _paper(live_cli, "--replay", "2020-01-05:2020-01-06", "--quiet").exit_code == 0
    (info,) = list_runs(cfg.runs_dir)
    path = info.run_dir / "events.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[4] = b'{"seq": 5, "type": "bar", "pay'
    path.write_bytes(b"\n".join(lines))
    before = snapshot(info.run_dir)
    for argv in (["runs", "show", info.run_id], ["runs", "tail", info.run_id]):
        r = live_cli(*argv)
        assert r.exit_code == 2 and "events.jsonl line 5 is corrupted" in r.stderr, r.stderr
    assert snapshot(info.run_dir) == before  # nothing rewritten or repaired behind the user's back


def test_shadow_run_polls_live_bars_when_client_injected(cfg, live_cli, monkeypatch):
    from live_session_helpers import FakeExchange

    from peaktrade.data import load_bars

    bars = load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg).iloc[:300]
    fake = FakeExchange(bars, now=bars.index[200])
    monkeypatch.setattr("peaktrade.adapters.kraken.public_client", lambda exchange_id="kraken", **kw: fake)
    monkeypatch.setattr("peaktrade.live.feeds.Clock.pause", lambda self, s: fake.sleep(s))
    r = live_cli("shadow", "run", "--strategy", "ma_crossover", "--exchange", "kraken", "--max-bars", "3",
                 "--warmup", "100")
    assert r.exit_code == 0, r.stderr
    assert "shadow session" in r.stdout and r.stdout.count("\nbar 2020-") == 3  # one line per polled bar
    (info,) = list_runs(cfg.runs_dir)
    assert info.environment == "shadow" and read_meta(info.run_dir)["mode"] == "poll"
