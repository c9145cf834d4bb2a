"""nbval over notebooks/: every notebook runs top to bottom, cell by cell, on a real kernel with its default
parameters, in ONE pytest-nbval subprocess (one collection, kernels started back to back; not under xdist,
whose workers tear a notebook's kernel down between cells).

Lax mode, with stored outputs compared where they are stable: a cell tagged ``nbval-check-output`` (cell
metadata; nbval's tag for ``# NBVAL_CHECK_OUTPUT``) has its committed outputs compared with the fresh ones
after the substitutions of nbval_sanitize.cfg (elapsed seconds); every other cell only has to run without
raising. Tagged cells are those whose output is a function of the seeded synthetic data set and the
notebook's defaults (bar ranges, statistics, trades, folds, Monte Carlo with a seed); run ids, report paths,
timings and charts stay lax. The committed outputs are text only (``text/plain``, ``text/html`` tables,
streams; a tagged cell carries an execution count, or nbval calls it unrun), checked by
test_notebook_contracts.py. They are produced under the test config below (its
[demo] data set: 2,000 seeded bars): after changing a tagged cell or what it shows, regenerate them with

    PYTHONPATH=$PWD .venv/bin/python tests/notebooks/test_nbval.py --update

nbval runs with the test config (small synthetic data set, temp MLflow store, reports and run logs; every
[risk] limit set and a short testnet profile, so 60-testnet-session runs offline against its in-process
simulator, as tests/live/test_testnet_notebook.py runs it), never the project's own store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import nbformat

if __name__ == "__main__":  # run as a script (--update): tests/ holds the shared helpers
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import NOTEBOOKS, REPO_ROOT, write_toml

TEST_CONFIG = REPO_ROOT / "config" / "config.test.toml"
SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")
CHECK_TAG = "nbval-check-output"
#: Every [risk] limit (testnet refuses to start without them), loose enough never to deny the short session.
RISK = {"max_order_notional": 100000.0, "max_position_notional": 100000.0, "max_total_exposure": 100000.0,
        "max_open_positions": 2, "max_daily_loss_pct": 90.0, "max_orders_per_minute": 1000}
#: MIME types a committed output may hold (text; never a plotly bundle or an image).
TEXT_MIME = ("text/plain", "text/html")


def nbval_config(tmp: Path) -> Path:
    """Write the config the notebooks run with under nbval into ``tmp``; return its path."""
    data = tomllib.loads(TEST_CONFIG.read_text(encoding="utf-8"))
    sections = {
        "data": {"dir": str(tmp / "store")},
        "tracking": {"uri": f"sqlite:///{tmp}/mlruns.db", "artifacts": str(tmp / "art")},
        "reports": {"dir": str(tmp / "reports")}, "runs": {"dir": str(tmp / "runs")},
        "safety": {"state_dir": str(tmp / "state")}, "risk": RISK, "testnet": {"budget_db": str(tmp / "b.db")},
        'testnet.profiles."sma-btc-1m"': {
            "strategy": "ma_crossover", "parameters": {"fast": 3, "slow": 8}, "symbol": "BTC/USD",
            "timeframe": "1m", "duration": 60.0, "max_notional": 100.0, "max_trades": 10},
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return write_toml(tmp / "peaktrade-test.toml", data)


def nbval_env(config: Path) -> dict[str, str]:
    """The kernels' environment: this checkout's package, the given config, no peaktrade overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAKTRADE__")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    env["PEAK_TRADE_CONFIG_PATH"] = str(config)
    return env


def checked_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indexes of the code cells whose outputs nbval compares."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and CHECK_TAG in c.metadata.get("tags", [])]


def probe_notebook(path: Path) -> Path:
    """A notebook whose first tagged cell stores a wrong output (it must fail: the comparison is live), whose
    second stores other seconds (sanitized: it passes) and whose last cell is lax."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print(6 * 7)", metadata={"tags": [CHECK_TAG]}, execution_count=1,
                                  outputs=[nbformat.v4.new_output("stream", name="stdout", text="41\n")]),
        nbformat.v4.new_code_cell("print('took 1.23 s')", metadata={"tags": [CHECK_TAG]}, execution_count=2,
                                  outputs=[nbformat.v4.new_output("stream", name="stdout", text="took 9.87 s\n")]),
        nbformat.v4.new_code_cell("import random; random.random()")])
    nbformat.write(nb, path)
    return path


def test_nbval_when_notebooks_run_with_defaults_then_every_cell_passes_and_stable_outputs_match(tmp_path):
    # one nbval run (its start-up paid once) over every notebook and the probe, whose wrong output must fail
    env = nbval_env(nbval_config(tmp_path))
    probe = probe_notebook(tmp_path / "probe.ipynb")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--nbval-lax",
                        f"--nbval-sanitize-with={SANITIZE}", "--nbval-cell-timeout=600", "--rootdir", str(tmp_path),
                        *map(str, NOTEBOOKS), str(probe)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    failed = re.findall(r"^FAILED (\S+::Cell \d+)", r.stdout, re.M)
    assert failed == ["probe.ipynb::Cell 0"], r.stdout[-5000:] + r.stderr[-2000:]  # 41 != 42, and nothing else
    passed = int(re.search(r"(\d+) passed", r.stdout)[1])
    cells = sum(1 for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
    assert passed == cells + 2  # every code cell of every notebook, and the probe's sanitized and lax cells
    assert sum(len(checked_cells(nbformat.read(p, as_version=4))) for p in NOTEBOOKS) >= 20  # outputs compared
    assert any((tmp_path / "reports").glob("*.html"))  # the run wrote to the test config's dirs


def update(paths: list[Path]) -> None:
    """Run each notebook as nbval does and store the text outputs of its tagged cells (the others stay empty)."""
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory() as tmp:
        env = nbval_env(nbval_config(Path(tmp)))
        os.environ.update(env)
        os.chdir(tmp)
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            if not checked_cells(nb):
                continue
            ran = nbformat.read(path, as_version=4)
            NotebookClient(ran, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
            for n, i in enumerate(checked_cells(nb), start=1):
                nb.cells[i].execution_count = n  # nbval calls a cell with outputs and no count "unrun"
                outs = []
                for o in ran.cells[i].outputs:
                    if o.output_type == "stream":
                        outs.append(o)
                    elif o.output_type in ("execute_result", "display_data"):
                        o.data = {k: v for k, v in o.data.items() if k in TEXT_MIME}
                        o.metadata = {}
                        if o.output_type == "execute_result":
                            o.execution_count = n
                        outs.append(o)
                nb.cells[i].outputs = outs
            nbformat.write(nb, path)
            print("updated", path.relative_to(REPO_ROOT), "cells", checked_cells(nb))


if __name__ == "__main__":
    if sys.argv[1:2] != ["--update"]:
        sys.exit("usage: tests/notebooks/test_nbval.py --update [NOTEBOOK ...]")
    update([Path(p).resolve() for p in sys.argv[2:]] or NOTEBOOKS)
