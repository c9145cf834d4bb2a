"""``runs list`` lists damaged runs (no meta.json, a non-object one) instead of crashing or hiding them."""

from __future__ import annotations

import json

import pytest

from peaktrade.live.runlog import DAMAGED, RunLogError, list_runs, read_meta


@pytest.mark.parametrize("meta_text", ["[1, 2, 3]", '"just a string"', "42", "null", "{oops"])
def test_runs_list_when_meta_not_an_object_then_listed_as_damaged_and_exit_0(cfg, cli, meta_text):
    run = cfg.runs_dir / "20260101-000000-paper-ma_crossover-abcdef"
    run.mkdir(parents=True)
    (run / "meta.json").write_text(meta_text)
    (run / "events.jsonl").write_text('{"seq": 1}\n')
    r = cli("runs", "list")
    assert r.exit_code == 0, r.stderr
    assert run.name in r.stdout and DAMAGED in r.stdout and "Traceback" not in r.stderr
    (info,) = list_runs(cfg.runs_dir)
    assert info.status == DAMAGED and info.n_events == 1 and "meta.json" in info.meta["error"]


def test_runs_list_when_run_has_no_meta_then_listed_as_damaged_not_hidden(cfg, cli):
    good = cfg.runs_dir / "20260102-000000-paper-ma_crossover-000001"
    good.mkdir(parents=True)
    (good / "meta.json").write_text(json.dumps({"status": "completed", "started_at": "2026-01-02T00:00:00+00:00",
                                                "environment": "paper", "strategy": "ma_crossover"}))
    bare = cfg.runs_dir / "20260101-000000-paper-ma_crossover-000002"
    bare.mkdir()
    (bare / "events.jsonl").write_text("")
    (cfg.runs_dir / "notebooks").mkdir()  # not a run: never listed
    runs = list_runs(cfg.runs_dir)
    assert [(r.run_id, r.status) for r in runs] == [(good.name, "completed"), (bare.name, DAMAGED)]
    r = cli("runs", "list")
    assert r.exit_code == 0 and bare.name in r.stdout and "notebooks" not in r.stdout


def test_read_meta_when_not_an_object_then_clear_error_naming_the_file(tmp_path):
    (tmp_path / "meta.json").write_text("[]")
    with pytest.raises(RunLogError, match="meta.json is not a JSON object \\(it holds a list\\)"):
        read_meta(tmp_path)


def test_runs_show_when_meta_not_an_object_then_one_line_error_exit_2(cfg, cli):
    run = cfg.runs_dir / "20260101-000000-paper-ma_crossover-abcdef"
    run.mkdir(parents=True)
    (run / "meta.json").write_text("[]")
    r = cli("runs", "show", run.name)
    assert r.exit_code == 2 and "not a JSON object" in r.stderr and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr
