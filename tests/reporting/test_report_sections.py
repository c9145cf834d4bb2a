"""build_report: sections present only for their inputs, escaped text, one self-contained file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peaktrade.errors import PeakTradeError
from peaktrade.reporting import build_report, load_result, monthly_returns, save_result

SECTIONS = ("section-provenance", "section-notes", "section-backtest", "section-sweep", "section-walk-forward",
            "section-monte-carlo")


def _sections(html: str) -> set[str]:
    return set(re.findall(r'<section id="([^"]+)"', html))


def _figures(html: str) -> list[str]:
    return re.findall(r'class="plotly-graph-div"', html)


def _trace_types(html: str, figure: str) -> list[str]:
    """Return the trace types of one embedded figure (read from its Plotly.newPlot data)."""
    m = re.search(r'Plotly\.newPlot\(\s*"fig-\d+-' + re.escape(figure) + r'",\s*(\[.*?\]),\s*\{"template"', html, re.S)
    assert m, f"figure {figure} not found"
    return [t.get("type", "scatter") for t in json.loads(m.group(1))]


def _assert_self_contained(html: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I), "a script is loaded from elsewhere"
    assert not re.search(r"<(link|img|iframe|source)[^>]*\b(href|src)\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert not re.search(r"@import\s+url\(\s*[\"']?https?:", html, re.I)


def test_build_report_when_every_input_is_given_then_every_section_is_present_and_self_contained(
        tmp_path, rresult, rsweep, rwalk, rmonte):
    path = build_report(title="all sections", path=tmp_path / "sub" / "all.html", result=rresult, sweep=rsweep,
                        walk_forward=rwalk, monte_carlo=rmonte, notes="first\n\nsecond",
                        provenance={"git SHA": "abc123"}, overfitting={"dsr": 0.91, "pbo": 0.2})
    assert path == tmp_path / "sub" / "all.html"
    html = path.read_text(encoding="utf-8")

    assert _sections(html) == set(SECTIONS)
    for table in ("stats-table", "trades-table", "monthly-returns-table", "sweep-top-table", "overfitting-table",
                  "wf-folds-table", "wf-stats-table", "wf-stability-table", "mc-summary-table", "provenance-table"):
        assert f'id="{table}"' in html, table
    names = set(re.findall(r'data-figure="([^"]+)"', html))
    assert names == {"equity", "candles", "monthly-returns", "sweep-params", "oos-equity", "monte-carlo"}
    assert len(_figures(html)) == 6
    bundles = [m for m in re.findall(r"<script[^>]*>(.*?)</script>", html, re.S) if len(m) > 1_000_000]
    assert len(bundles) == 1, "plotly.js must be inlined exactly once"
    _assert_self_contained(html)
    assert "<p>first</p><p>second</p>" in html


def test_build_report_when_only_a_backtest_is_given_then_only_its_section_is_present(tmp_path, rresult):
    html = build_report(title="bt", path=tmp_path / "bt.html", result=rresult).read_text(encoding="utf-8")
    assert _sections(html) == {"section-backtest"}
    assert set(re.findall(r'data-figure="([^"]+)"', html)) == {"equity", "candles", "monthly-returns"}
    assert f"trades ({len(rresult.trades):,})" in html


def test_build_report_when_trades_are_many_then_first_and_last_rows_are_shown(tmp_path, rbars):
    from peaktrade.backtest import run

    busy = run("ma_crossover", rbars, fast=2, slow=5)
    assert len(busy.trades) > 60, "precondition: a long trades table"
    html = build_report(title="bt", path=tmp_path / "bt.html", result=busy).read_text(encoding="utf-8")
    table = html[html.index('id="trades-table"'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") == 1 + 25 + 25  # header, head rows, tail rows
    assert f"… {len(busy.trades) - 50:,} more rows …" in table


def test_build_report_when_only_a_sweep_is_given_then_heatmap_uses_the_first_two_swept_params(tmp_path, rsweep):
    html = build_report(title="sw", path=tmp_path / "sw.html", sweep=rsweep).read_text(encoding="utf-8")
    assert _sections(html) == {"section-sweep"}
    assert "sharpe over fast × slow" in html
    assert _trace_types(html, "sweep-params") == ["heatmap"]


def test_build_report_when_sweep_xy_names_an_unknown_param_then_it_raises(tmp_path, rsweep):
    with pytest.raises(PeakTradeError, match="'nope' is not a swept parameter"):
        build_report(title="sw", path=tmp_path / "sw.html", sweep=rsweep, sweep_xy=("fast", "nope"))
    assert not (tmp_path / "sw.html").exists()


def test_build_report_when_one_param_is_swept_then_a_line_chart_replaces_the_heatmap(tmp_path, rbars):
    from peaktrade.backtest import sweep

    one = sweep("ma_crossover", rbars, fast=[5, 10, 15], slow=40)
    html = build_report(title="one", path=tmp_path / "one.html", sweep=one).read_text(encoding="utf-8")
    assert "sharpe over fast" in html and "sharpe over fast ×" not in html
    assert _trace_types(html, "sweep-params") == ["scatter"]


def test_build_report_when_only_walk_forward_and_monte_carlo_are_given_then_only_their_sections(
        tmp_path, rwalk, rmonte):
    html = build_report(title="wf", path=tmp_path / "wf.html", walk_forward=rwalk,
                        monte_carlo=rmonte).read_text(encoding="utf-8")
    assert _sections(html) == {"section-walk-forward", "section-monte-carlo"}
    assert "q05–q95" in html and "OOS equity" in html


def test_build_report_when_only_notes_are_given_then_no_plotly_is_embedded(tmp_path):
    path = build_report(title="notes only", path=tmp_path / "n.html", notes=["just text"])
    html = path.read_text(encoding="utf-8")
    assert _sections(html) == {"section-notes"} and path.stat().st_size < 20_000
    _assert_self_contained(html)


def test_build_report_when_text_holds_markup_then_it_is_escaped(tmp_path, rresult):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    html = build_report(title=evil, path=tmp_path / "e.html", result=rresult, notes=evil,
                        provenance={evil: evil}).read_text(encoding="utf-8")
    assert evil not in html and "<img src=x" not in html and 'alert("x")</script>' not in html
    assert html.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") >= 4  # <title>, h1, notes, key, value


@dataclass
class _MC:
    quantiles: pd.DataFrame
    summary: pd.Series


def test_build_report_when_monte_carlo_quantiles_are_given_then_fan_bands_are_drawn(tmp_path):
    steps = pd.Index(range(5), name="step")
    q = pd.DataFrame({c: np.linspace(1, f, 5) for c, f in
                      (("q05", 0.8), ("q25", 0.9), ("q50", 1.0), ("q75", 1.1), ("q95", 1.2))}, index=steps)
    html = build_report(title="mc", path=tmp_path / "mc.html",
                        monte_carlo=_MC(q, pd.Series({"prob_loss": 0.4, "method": "iid"}))).read_text("utf-8")
    assert "q05–q95" in html and "q25–q75" in html and "median" in html
    assert "prob_loss" in html and "iid" in html


def test_monthly_returns_when_month_ends_are_known_then_returns_chain_from_initial_cash():
    idx = pd.date_range("2024-01-01", "2024-03-31", freq="D", tz="UTC")
    eq = pd.Series(100.0, index=idx)
    eq[idx.month == 1] = np.linspace(101, 110, (idx.month == 1).sum())
    eq[idx.month == 2] = 99.0
    eq[idx.month == 3] = 99.0
    table = monthly_returns(eq, init_cash=100.0)
    assert list(table.index) == [2024]
    row = table.loc[2024]
    assert row["Jan"] == pytest.approx(0.10) and row["Feb"] == pytest.approx(-0.10) and row["Mar"] == 0.0
    assert np.isnan(row["Apr"]) and row["Year"] == pytest.approx(-0.01)


def test_save_result_when_loaded_back_then_report_can_be_rebuilt_without_bars(tmp_path, rresult):
    save_result(rresult, tmp_path / "saved", meta={"symbol": "BTC/USD", "timeframe": "1h"})
    saved = load_result(tmp_path / "saved")
    pd.testing.assert_series_equal(saved.stats(), rresult.stats(), check_names=False)
    pd.testing.assert_series_equal(saved.drawdown, rresult.drawdown, check_freq=False)
    assert saved.meta == {"symbol": "BTC/USD", "timeframe": "1h"} and saved.strategy == "ma_crossover"
    html = build_report(title="saved", path=tmp_path / "r.html", result=saved).read_text(encoding="utf-8")
    assert _sections(html) == {"section-backtest"} and "price and trades" not in html


def test_load_result_when_files_are_missing_then_it_names_them(tmp_path, rresult):
    save_result(rresult, tmp_path / "saved")
    (tmp_path / "saved" / "trades.parquet").unlink()
    with pytest.raises(PeakTradeError, match="missing trades.parquet"):
        load_result(tmp_path / "saved")


# -- peaktrade report PATH ---------------------------------------------------------------------------


@pytest.fixture
def wired():
    """Register ``report`` on the root app when cli/main.py does not (yet)."""
    from peaktrade.cli import main as cli_main
    from peaktrade.cli import report_cmd

    if not any(c.name == "report" for c in cli_main.app.registered_commands):
        report_cmd.register(cli_main.app)


def test_report_cli_when_given_a_saved_result_directory_then_writes_report_html_there(tmp_path, rresult, cli,
                                                                                      cfg, wired):
    save_result(rresult, tmp_path / "saved", meta={"symbol": "BTC/USD", "timeframe": "1h"})
    out = cli("report", str(tmp_path / "saved"))
    assert out.exit_code == 0, out.stderr
    assert Path(out.stdout.strip()) == tmp_path / "saved" / "report.html"
    html = (tmp_path / "saved" / "report.html").read_text(encoding="utf-8")
    assert "<title>ma_crossover BTC/USD 1h</title>" in html

    out = cli("report", str(tmp_path / "saved"), "--out", str(tmp_path / "other.html"))
    assert out.exit_code == 0 and (tmp_path / "other.html").is_file()


@pytest.mark.parametrize("target, message", [
    ("not-a-run-or-path", "is not a saved result directory, a session run or an MLflow run"),
    ("{tmp}", "is not a saved result: missing equity.parquet"),
])
def test_report_cli_when_target_is_bad_then_one_line_error(tmp_path, cli, cfg, wired, target, message):
    out = cli("report", target.format(tmp=tmp_path))
    assert out.exit_code == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_build_report_when_a_ruined_combination_has_the_top_metric_then_it_is_not_ranked(tmp_path, rsweep):
    import dataclasses

    table = rsweep.table.copy()
    table.loc[0, ["sharpe", "ruined", "ruin_time"]] = [98765.0, 1.0, 3.0]  # a pre-ruin path can look great
    sw = dataclasses.replace(rsweep, table=table)
    html = build_report(title="sw", path=tmp_path / "sw.html", sweep=sw).read_text(encoding="utf-8")
    top = html[html.index('id="sweep-top-table"'):]
    top = top[:top.index("</table>")]
    assert "98,765" not in top and "98765" not in top
    assert top.count("<tr>") == 1 + len(table) - 1  # header + every combination but the ruined one
    assert "ruined combinations (never ranked)" in html


def test_build_report_when_overfitting_has_a_pbo_then_its_convention_and_null_mean_are_shown(tmp_path, rsweep):
    html = build_report(title="pbo", path=tmp_path / "pbo.html", sweep=rsweep,
                        overfitting={"dsr": 0.91, "pbo": 0.2}).read_text(encoding="utf-8")
    n = rsweep.part_sums.shape[0]
    table = html[html.index('id="overfitting-table"'):]
    table = table[:table.index("</table>")]
    assert "pbo_null_mean" in table and "pbo_convention" in table
    assert f"S={rsweep.part_sums.shape[1]}" in table and f"N={n}" in table and "null mean" in table
