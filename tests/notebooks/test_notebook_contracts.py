"""Notebook contracts: one ``parameters`` cell of ``name: type = default  # help`` lines, outputs
stripped, and every experiment spec passes only parameters its notebook declares."""

from __future__ import annotations

import re

import nbformat
import papermill
import pytest
from helpers import NOTEBOOKS, REPO_ROOT, RESEARCH_PARAMS, research_notebooks

from peaktrade.experiments.batch import RUNNER_PARAMS, ExperimentError, load_spec

ROOT = REPO_ROOT
#: Research notebooks (discovered: they declare the data/tracking parameters) are executed by
#: test_notebooks_execute.py; any other notebook has its own contract test that names it.
RESEARCH = research_notebooks()
SPECS = sorted((ROOT / "experiments").glob("*.toml"))
LINE = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*): (?P<type>str|int|float|bool|dict|list) = (?P<default>.+?)  # (?P<help>[^=]+)$")
COMMON = RESEARCH_PARAMS


def test_notebooks_and_specs_exist():
    assert NOTEBOOKS and RESEARCH and len(SPECS) >= 2
    assert all(re.fullmatch(r"\d\d-[a-z0-9-]+", p.stem) for p in NOTEBOOKS)  # NN-topic.ipynb
    assert len({p.stem[:2] for p in NOTEBOOKS}) == len(NOTEBOOKS)


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p not in RESEARCH], ids=lambda p: p.stem)
def test_notebook_when_not_a_research_notebook_then_a_test_names_it(path):
    # a research notebook is executed automatically; any other one must have its own test
    tests = [t for t in (ROOT / "tests").rglob("test_*.py") if path.name in t.read_text(encoding="utf-8")]
    assert tests, f"{path.name} declares no research parameters and no test under tests/ names it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_one_parameters_cell_of_typed_lines_with_help(path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    lines = [ln for ln in cells[0].source.splitlines() if ln.strip()]
    for ln in lines:
        m = LINE.match(ln)
        assert m, f"{path.name}: parameter line not of the form 'name: type = default  # help': {ln!r}"
        value = eval(m["default"], {})  # noqa: S307 — our own notebook's literal defaults
        assert type(value).__name__ == m["type"], ln
    declared = papermill.inspect_notebook(str(path))
    assert len(declared) == len(lines) and all(p["help"] for p in declared.values())
    if path in RESEARCH:
        assert set(COMMON) <= set(declared)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_committed_without_outputs(path):
    # the outputs nbval compares are kept apart (tests/notebooks/nbval_outputs.json), never in the notebook
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, f"{path.name}: strip outputs and execution counts"


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_spec_passes_only_declared_parameters(spec):
    s = load_spec(spec)
    declared = papermill.inspect_notebook(str(s.notebook))
    assert s.parameter_sets
    for params in s.parameter_sets:
        assert set(params) <= set(declared) - set(RUNNER_PARAMS)


def test_spec_rejected_when_it_passes_an_undeclared_parameter(tmp_path):
    (tmp_path / "experiments").mkdir()
    spec = tmp_path / "experiments" / "bad.toml"
    spec.write_text(f'name = "bad"\nnotebook = "{ROOT / "notebooks" / "10-backtest.ipynb"}"\n'
                    '[parameters]\nstrategy = "ma_crossover"\nleverage = 3\n')
    with pytest.raises(ExperimentError, match="leverage") as e:
        load_spec(spec)
    assert "10-backtest.ipynb does not declare" in str(e.value)


@pytest.mark.parametrize("body,needle", [
    ('notebook = "notebooks/10-backtest.ipynb"\n', "'name' is missing"),
    ('name = "x"\nnotebook = "notebooks/nope.ipynb"\n', "not found: looked at"),
    ('name = "x"\nnotebook = "notebooks/10-backtest.ipynb"\ncolour = 1\n', "unknown key(s) colour"),
    ('name = "x"\nnotebook = "notebooks/10-backtest.ipynb"\n[grid]\nfees = 0.1\n', "non-empty list"),
    ('name = "x"\nnotebook = "notebooks/10-backtest.ipynb"\n[parameters]\ntrack = false\n', "batch runner"),
    ('name = "x" notebook', "not valid TOML"),
])
def test_spec_error_names_the_problem_when_spec_bad(tmp_path, body, needle):
    spec = tmp_path / "s.toml"
    spec.write_text(body)
    with pytest.raises(ExperimentError) as e:
        load_spec(spec, root=ROOT)
    assert needle in str(e.value)


def test_write_a_strategy_notebook_when_read_then_writes_backtests_sweeps_and_checks_a_strategy():
    # 05-write-a-strategy.ipynb is a research notebook (executed with its defaults by test_notebooks_execute.py,
    # with a strategies/ name by tests/e2e/test_bring_your_own_strategy.py): by default it runs the strategy
    # its own cell writes, or the one named by ``strategy``
    path = ROOT / "notebooks" / "05-write-a-strategy.ipynb"
    assert path in RESEARCH
    declared = papermill.inspect_notebook(str(path))
    assert declared["strategy"]["default"] == '""' and {"params", "grid", "metric"} <= set(declared)
    src = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert re.search(r"^class \w+\(pts\.PandasStrategy\):", src, re.M)
    for call in ("run(strat", "sweep(strat", "lookahead_check(strat", "log_backtest(", "log_sweep("):
        assert call in src, call


def test_write_a_strategy_notebook_when_no_grid_then_sweeps_the_declared_space_like_the_cli():
    # Param.grid() is one point for a parameter without a step: the CLI's space="declared" gives five
    path = ROOT / "notebooks" / "05-write-a-strategy.ipynb"
    src = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert 'space=None if grid else "declared"' in src and ".grid()" not in src


def test_portfolio_notebook_when_run_with_defaults_then_reports_and_logs_a_portfolio_run(make_cfg, tmp_path):
    # 50-portfolio.ipynb takes symbols (not one symbol): not a research notebook, so it is run here
    import mlflow

    path = ROOT / "notebooks" / "50-portfolio.ipynb"
    cfg = make_cfg(tracking={"uri": f"sqlite:///{tmp_path}/mlruns.db", "artifacts": str(tmp_path / "art")},
                   reports={"dir": str(tmp_path / "reports")})
    papermill.execute_notebook(str(path), str(tmp_path / "out.ipynb"), kernel_name="python3", cwd=str(path.parent),
                               progress_bar=False, execution_timeout=300, parameters={"compare": ["equal"]})
    assert list((tmp_path / "reports").glob("*-portfolio-inverse_vol-1h.html"))
    client = mlflow.MlflowClient(tracking_uri=cfg.tracking.uri)
    runs = client.search_runs([client.get_experiment_by_name(cfg.tracking.experiment).experiment_id])
    assert [r.data.tags.get("peaktrade.kind") for r in runs] == ["portfolio"]
    assert runs[0].info.status == "FINISHED" and runs[0].data.params["alloc"] == "inverse_vol"
