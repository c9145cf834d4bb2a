"""``peaktrade report RUN_ID``: paper (session) runs and MLflow runs by a unique id prefix of >= 6 characters,
reports named by run id and labelled with their exchange; the real CLI, run log and MLflow store."""

from __future__ import annotations

import pytest

from peaktrade.live.runlog import list_runs


@pytest.fixture
def paper_run(cfg, cli):
    r = cli("paper", "run", "--strategy", "ma_crossover", "--exchange", "synthetic", "--param", "fast=5",
            "--param", "slow=20", "--replay", "2020-01-05:2020-01-12", "--quiet")
    assert r.exit_code == 0, r.stderr
    (info,) = list_runs(cfg.runs_dir)
    return info


def test_report_when_given_a_paper_run_id_prefix_then_it_writes_the_runs_html_report(cfg, cli, paper_run):
    r = cli("report", paper_run.run_id[:15])
    assert r.exit_code == 0, r.stderr
    path = cfg.reports_dir / f"{paper_run.run_id}-paper-BTC-USD-1h.html"
    assert r.stdout.strip() == str(path)
    html = path.read_text(encoding="utf-8")
    assert "paper ma_crossover BTC/USD 1h" in html and paper_run.run_id in html
    assert "data: synthetic (SYNTHETIC" in html
    assert 'id="trades-table"' in html or "no trades" in html
    assert 'data-figure="equity"' in html


def test_report_when_given_an_mlflow_run_id_prefix_then_it_is_found_and_named_by_the_id(cfg, cli):
    from peaktrade.backtest import run
    from peaktrade.data import demo_dataset
    from peaktrade.tracking import log_backtest

    res = run("ma_crossover", demo_dataset(config=cfg), fast=10, slow=40)
    run_id = log_backtest(res, config=cfg, symbol="BTC/USD", timeframe="1h")
    r = cli("report", run_id[:6].upper())  # case does not matter for hex ids
    assert r.exit_code == 0, r.stderr
    out = r.stdout.strip()
    assert out == str(cfg.reports_dir / f"{run_id}-backtest-ma_crossover-BTC-USD-1h.html")


@pytest.mark.parametrize("ref,needle", [
    ("abc", "too short: expected the whole id or a unique prefix of at least 6 characters"),
    ("ffffffffff", "is not a saved result directory, a session run or an MLflow run"),
])
def test_report_when_prefix_too_short_or_unknown_then_one_line_error(cfg, cli, paper_run, ref, needle):
    r = cli("report", ref)
    assert r.exit_code == 2 and needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_report_when_prefix_matches_two_runs_then_it_names_both(cfg, cli, paper_run):
    twin = paper_run.run_dir.with_name(paper_run.run_id[:-1] + ("0" if paper_run.run_id[-1] != "0" else "1"))
    twin.mkdir()
    (twin / "meta.json").write_text((paper_run.run_dir / "meta.json").read_text())
    r = cli("report", paper_run.run_id[:-1])
    assert r.exit_code == 2 and "ambiguous" in r.stderr
    assert paper_run.run_id in r.stderr and twin.name in r.stderr
