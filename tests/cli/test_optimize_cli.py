"""``peaktrade optimize`` on the command line: the text summary and one-line errors (the tracked, resumed run is in
tests/tracking/test_log_optimize.py, beside the migrated MLflow store template)."""

from __future__ import annotations

import pytest


def test_optimize_when_tracking_off_then_text_summary_names_the_dsr_and_the_study(cfg, cli):
    r = cli("optimize", "ma_crossover", "--exchange", "synthetic", "--trials", "4", "--batch", "4", "--no-track",
            "--grid", "fast=5:30:5", "--param", "kind=ema", "--study", "text")
    assert r.exit_code == 0, r.stderr
    assert "study 'text'" in r.stdout and "4 evaluated in all" in r.stdout
    assert "after 4 trials" in r.stdout and "best by sharpe: trial #" in r.stdout
    assert "search space: fast=int 5..25 step 5, slow=int 50..200" in r.stdout


@pytest.mark.parametrize("extra,needle", [
    (["--sampler", "grid"], "--sampler 'grid' is invalid: expected one of tpe, nsga2, random"),
    (["--objective", "luck"], "--objective 'luck' is invalid: expected one or more distinct metrics, comma separated, "
                              "of sharpe, sortino, calmar"),
    (["--objective", "max_drawdown"], "expected one to maximize"),
    (["--trials", "0"], "--trials 0 is invalid: expected an integer >= 1"),
    (["--grid", "fast=5:30", "--param", "fast=10"], "conflicts with --grid fast"),
])
def test_optimize_when_input_bad_then_one_line_error_naming_the_accepted_values(cfg, cli, extra, needle):
    argv = ["optimize", "ma_crossover", "--exchange", "synthetic", "--trials", "2", "--no-track", *extra]
    if "--trials" in extra:
        argv[4:6] = []
    r = cli(*argv)
    assert r.exit_code == 2
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
