"""Report files named by run id (each run its own file) and report headers labelled with exchange/synthetic."""

from __future__ import annotations

import pytest
from helpers import random_bars

from peaktrade._ids import MIN_PREFIX, resolve_prefix
from peaktrade.backtest import run
from peaktrade.errors import PeakTradeError
from peaktrade.reporting import build_report, data_label, report_path


def test_report_path_when_run_ids_differ_then_files_differ_and_start_with_the_id(tmp_path):
    a = report_path(tmp_path, kind="sweep", run_id="a" * 32, strategy="ma_crossover", symbol="BTC/USD", timeframe="1h")
    b = report_path(tmp_path, kind="sweep", run_id="b" * 32, strategy="ma_crossover", symbol="BTC/USD", timeframe="1h")
    assert a != b and a.name == f"{'a' * 32}-sweep-ma_crossover-BTC-USD-1h.html"
    # untracked runs get a fresh id: four sweeps leave four files
    assert len({report_path(tmp_path, kind="sweep", strategy="ma_crossover") for _ in range(4)}) == 4


def test_report_path_when_run_id_has_a_path_separator_then_error(tmp_path):
    with pytest.raises(PeakTradeError, match="run_id='../x' is invalid"):
        report_path(tmp_path, kind="sweep", run_id="../x")


@pytest.mark.parametrize("exchange,synthetic,expected", [
    ("synthetic", None, "data: synthetic (SYNTHETIC: generated bars, not market prices)"),
    ("kraken", None, "data: kraken"),
    ("kraken", True, "data: kraken (SYNTHETIC: generated bars, not market prices)"),
])
def test_data_label_when_exchange_given_then_synthetic_is_flagged(exchange, synthetic, expected):
    assert data_label(exchange, synthetic) == expected


def test_build_report_when_exchange_given_then_header_labels_it(tmp_path):
    res = run("ma_crossover", random_bars(400, seed=3), fast=5, slow=20)
    html = build_report(title="t", path=tmp_path / "r.html", result=res, exchange="synthetic").read_text()
    header = html[html.index("<header>"):html.index("</header>")]
    assert "data: synthetic (SYNTHETIC" in header
    plain = build_report(title="t", path=tmp_path / "k.html", result=res, exchange="kraken").read_text()
    assert "data: kraken" in plain and "SYNTHETIC" not in plain


@pytest.mark.parametrize("ref,ok", [("20240101-a", True), ("202402", True), ("2024020", True)])
def test_resolve_prefix_when_unique_then_the_id(ref, ok):
    ids = ["20240101-a", "20240101-b", "20240202-c"]
    assert resolve_prefix(ref, ids) in ids


@pytest.mark.parametrize("ref,needle", [
    ("20240", f"at least {MIN_PREFIX} characters"),
    ("202401", "ambiguous: it matches 20240101-a, 20240101-b"),
    ("999999", "no run '999999'"),
])
def test_resolve_prefix_when_short_ambiguous_or_unknown_then_clear_error(ref, needle):
    with pytest.raises(PeakTradeError, match=needle):
        resolve_prefix(ref, ["20240101-a", "20240101-b", "20240202-c"])
