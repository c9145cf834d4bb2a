"""MLflow that fits: one experiment per experiment spec, links that open the run page, one plotly.js per
experiment instead of one per report (bytes per run), and fetched reports that are self-contained."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from peaktrade.tracking import log_backtest, log_sweep, run_url, tracked_run
from peaktrade.tracking._store import local_path

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _notebook(path: Path) -> Path:
    cells = [
        {"cell_type": "code", "execution_count": None, "id": "p0", "metadata": {"tags": ["parameters"]},
         "outputs": [], "source": ['track: bool = True  # log to MLflow\n',
                                   'parent_run_id: str = ""  # set by the runner\n', 'x: int = 1  # a value\n']},
        {"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
         "source": ["from peaktrade.tracking import tracked_run\n",
                    "with tracked_run(parent_run_id=parent_run_id or None, run_name=f'inner {x}') as run:\n",
                    "    run.log_metrics({'x': x})\n"]},
    ]
    nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                      "name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_log_backtest_when_nested_without_an_experiment_then_it_lands_in_the_parents_experiment(tcfg, client,
                                                                                              result):
    with tracked_run(config=tcfg, experiment="my-spec", run_name="batch") as parent:
        child = log_backtest(result, config=tcfg, parent_run_id=parent.run_id, report=False)
        with tracked_run(config=tcfg, nested=True, run_name="inner") as inner:
            pass
    exp = client.get_experiment_by_name("my-spec")
    assert {client.get_run(r).info.experiment_id for r in (parent.run_id, child, inner.run_id)} == \
        {exp.experiment_id}
    default = client.get_experiment_by_name(tcfg.tracking.experiment)
    assert default is None or not client.search_runs([default.experiment_id])


def test_experiment_run_when_a_spec_runs_then_its_runs_are_in_an_experiment_named_after_it_with_run_links(
        tcfg, client, cli, tmp_path):
    _notebook(tmp_path / "proj" / "notebooks" / "tiny.ipynb")
    spec = tmp_path / "proj" / "experiments" / "spec-x.toml"
    spec.parent.mkdir(parents=True)
    spec.write_text('name = "spec-x"\nnotebook = "notebooks/tiny.ipynb"\n[grid]\nx = [1, 2]\n', encoding="utf-8")

    out = cli("experiment", "run", str(spec), "--out", str(tmp_path / "executed"))

    assert out.exit_code == 0, out.stdout + out.stderr
    exp = client.get_experiment_by_name("spec-x")
    assert exp is not None, [e.name for e in client.search_experiments()]
    runs = client.search_runs([exp.experiment_id])
    kinds = sorted(r.data.tags.get("peaktrade.kind", "") for r in runs)
    assert kinds == ["batch", "notebook", "notebook", "run", "run"]  # the notebooks' own runs too
    assert sorted(r.data.metrics["x"] for r in runs if "x" in r.data.metrics) == [1.0, 2.0]
    default = client.get_experiment_by_name(tcfg.tracking.experiment)
    assert default is None or not client.search_runs([default.experiment_id])
    assert f"MLflow experiment 'spec-x': http://127.0.0.1:5000/#/experiments/{exp.experiment_id}" in out.stdout
    notebook_runs = {r.info.run_id for r in runs if r.data.tags.get("peaktrade.kind") == "notebook"}
    links = set(re.findall(r"/#/experiments/\d+/runs/([0-9a-f]{32})", out.stdout))
    assert links == notebook_runs


def test_run_url_when_a_run_is_logged_then_the_link_is_the_run_page_of_its_experiment(tcfg, client, result):
    with tracked_run(config=tcfg, experiment="links") as run:
        pass
    exp_id = client.get_experiment_by_name("links").experiment_id
    page = f"http://127.0.0.1:5000/#/experiments/{exp_id}/runs/{run.run_id}"
    assert run_url(run.run_id, config=tcfg) == page
    assert run.url == page


def test_run_url_when_tracking_uri_is_a_server_then_the_link_is_on_that_server(tcfg, monkeypatch):
    from peaktrade.tracking._query import ui_base

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://user:secret@mlflow.example.org/")
    assert ui_base(tcfg) == "https://user:***@mlflow.example.org"


def _run_bytes(client, run_id: str) -> int:
    d = local_path(client.get_run(run_id).info.artifact_uri)
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


def test_log_sweep_when_reports_are_logged_then_plotlyjs_is_stored_once_per_experiment_not_per_run(
        tcfg, client, sweep_result, bars, result):
    from peaktrade.reporting._html import plotlyjs_bundle, plotlyjs_name

    pid = log_sweep(sweep_result, config=tcfg, experiment="bytes", top_n=3, bars=bars)
    rid = log_backtest(result, config=tcfg, experiment="bytes")
    exp = client.get_experiment_by_name("bytes")
    exp_dir = local_path(exp.artifact_location)
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 5 and {pid, rid} <= {r.info.run_id for r in runs}

    bundle = len(plotlyjs_bundle().encode())
    assert bundle > 4_000_000, "precondition: the bundle is what made every run ~5 MB"
    shared = list(exp_dir.rglob("plotly-*.min.js"))
    assert [p.name for p in shared] == [plotlyjs_name()] and shared[0].parent == exp_dir
    assert shared[0].stat().st_size == bundle
    for r in runs:
        assert _run_bytes(client, r.info.run_id) < 1_500_000, r.data.tags.get("peaktrade.kind")
        report = local_path(r.info.artifact_uri) / "report" / "report.html"
        html = report.read_text(encoding="utf-8")
        src = re.search(r'<script src="([^"]+)" data-peaktrade-plotlyjs="shared">', html).group(1)
        assert (report.parent / src).resolve() == shared[0].resolve()  # the relative link reaches the copy
        assert plotlyjs_bundle()[:5000] not in html


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (CI: apt-get install -y chromium)")
def test_tracked_report_when_opened_from_the_store_on_disk_then_figures_render_offline(tcfg, client, result,
                                                                                        tmp_path):
    rid = log_backtest(result, config=tcfg, experiment="offline")
    report = local_path(client.get_run(rid).info.artifact_uri) / "report" / "report.html"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--allow-file-access-from-files",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    n_figures = len(re.findall(r'class="plotly-graph-div"', report.read_text(encoding="utf-8")))
    rendered = re.findall(r'class="plotly-graph-div js-plotly-plot"', proc.stdout)
    assert n_figures >= 3 and len(rendered) == n_figures
    assert '<p class="plotlyjs-missing"' not in proc.stdout  # the fallback note stays hidden


def test_report_when_fetched_by_run_id_then_the_copy_is_self_contained(tcfg, cli, result, tmp_path):
    from peaktrade.reporting._html import plotlyjs_bundle

    rid = log_backtest(result, config=tcfg)
    out = cli("report", rid, "--out", str(tmp_path / "r.html"))
    assert out.exit_code == 0, out.stderr
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert html.count(plotlyjs_bundle()) == 1 and "data-peaktrade-plotlyjs" not in html


def test_local_path_when_artifacts_are_remote_then_none_so_reports_keep_plotlyjs_inlined(tmp_path):
    assert local_path("mlflow-artifacts:/1/abc/artifacts") is None
    assert local_path("s3://bucket/1/abc/artifacts") is None
    assert local_path(tmp_path.as_uri()) == tmp_path
    assert local_path(str(tmp_path)) == tmp_path


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (CI: apt-get install -y chromium)")
def test_tracked_report_when_the_shared_bundle_is_out_of_reach_then_the_page_says_how_to_see_figures(
        tcfg, client, result, tmp_path):
    rid = log_backtest(result, config=tcfg, experiment="preview")
    report = local_path(client.get_run(rid).info.artifact_uri) / "report" / "report.html"
    alone = tmp_path / "alone" / "report.html"  # like the MLflow UI's preview: the page without its neighbours
    alone.parent.mkdir()
    alone.write_bytes(report.read_bytes())
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
         "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", alone.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '<p class="plotlyjs-missing"' in proc.stdout and "peaktrade report RUN_ID" in proc.stdout
    assert 'id="stats-table"' in proc.stdout  # the tables are there regardless
