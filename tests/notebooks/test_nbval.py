"""nbval over notebooks/: every notebook runs top to bottom, cell by cell, on a real kernel with its default
parameters, in ONE pytest-nbval subprocess (one collection, kernels started back to back; not under xdist,
whose workers tear a notebook's kernel down between cells).

Lax mode, with stored outputs compared where they are stable: a cell tagged ``nbval-check-output`` (cell
metadata; nbval's tag for ``# NBVAL_CHECK_OUTPUT``) has its expected outputs compared with the fresh ones
after the substitutions of nbval_sanitize.cfg (elapsed seconds); every other cell only has to run without
raising. Tagged cells are those whose output is a function of the seeded synthetic data set and the
notebook's defaults (bar ranges, statistics, trades, folds, Monte Carlo with a seed); run ids, report paths,
timings and charts stay lax. The notebooks are committed without outputs (test_notebook_contracts.py): the
expected outputs of the tagged cells live in nbval_outputs.json (notebook -> cell id -> text outputs) and are
put into copies of the notebooks that nbval runs. They are produced under the test config below (its
[demo] data set: 2,000 seeded bars): after changing a tagged cell or what it shows, regenerate them with

    PYTHONPATH=$PWD .venv/bin/python tests/notebooks/test_nbval.py --update

nbval runs with the test config (small synthetic data set, temp MLflow store, reports and run logs; every
[risk] limit set and a short testnet profile, so 60-testnet-session runs offline against its in-process
simulator, as tests/live/test_testnet_notebook.py runs it), never the project's own store."""

from __future__ import annotations

import json
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
EXPECTED = Path(__file__).with_name("nbval_outputs.json")
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


def with_expected(path: Path, dest: Path, expected: dict[str, list[dict]]) -> Path:
    """Write a copy of notebook ``path`` into ``dest`` whose tagged cells hold their ``expected`` outputs (by
    cell id) and an execution count (nbval calls a cell with outputs and none "unrun"); return its path."""
    nb = nbformat.read(path, as_version=4)
    for n, i in enumerate(checked_cells(nb), start=1):
        cell = nb.cells[i]
        outs = [nbformat.from_dict(o) for o in expected[cell.id]]
        for o in outs:
            if o.output_type == "execute_result":
                o.execution_count = n
        cell.outputs, cell.execution_count = outs, n
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest / path.name)
    return dest / path.name


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
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    copies = [with_expected(p, tmp_path / "notebooks", expected.get(p.name, {})) for p in NOTEBOOKS]
    probe = probe_notebook(tmp_path / "probe.ipynb")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--nbval-lax",
                        f"--nbval-sanitize-with={SANITIZE}", "--nbval-cell-timeout=600", "--rootdir", str(tmp_path),
                        *map(str, copies), str(probe)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    failed = re.findall(r"^FAILED (\S+::Cell \d+)", r.stdout, re.M)
    assert failed == ["probe.ipynb::Cell 0"], r.stdout[-5000:] + r.stderr[-2000:]  # 41 != 42, and nothing else
    passed = int(re.search(r"(\d+) passed", r.stdout)[1])
    cells = sum(1 for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
    assert passed == cells + 2  # every code cell of every notebook, and the probe's sanitized and lax cells
    # outputs compared: the copies nbval ran carry the stored outputs of at least 20 cells
    assert sum(bool(c.get("outputs")) for p in copies for c in nbformat.read(p, as_version=4).cells) >= 20
    assert any((tmp_path / "reports").glob("*.html"))  # the run wrote to the test config's dirs


def test_expected_outputs_when_read_then_one_entry_per_tagged_cell_text_only_and_no_local_path():
    # stored outputs of exactly the tagged cells (a cell tagged, renamed or untagged without --update fails
    # here), text only: no plotly bundle or image, no local path
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    tagged = {p.name: {nb.cells[i].id for i in checked_cells(nb)}
              for p in NOTEBOOKS for nb in [nbformat.read(p, as_version=4)]}
    assert {k: set(v) for k, v in expected.items()} == {k: v for k, v in tagged.items() if v}
    for cells in expected.values():
        for outs in cells.values():
            for o in outs:
                assert o["output_type"] in ("stream", "execute_result", "display_data")
                assert set(o.get("data", {})) <= set(TEXT_MIME)
                text = o.get("text", "") + "".join(o.get("data", {}).values())
                assert not re.search(r"/(tmp|home|root|work|Users)/|[A-Z]:\\", text), text[:300]


def update(paths: list[Path]) -> None:
    """Run each notebook as nbval does and store the text outputs of its tagged cells in nbval_outputs.json."""
    from nbclient import NotebookClient

    expected = json.loads(EXPECTED.read_text(encoding="utf-8")) if EXPECTED.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        env = nbval_env(nbval_config(Path(tmp)))
        os.environ.update(env)
        os.chdir(tmp)
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            expected.pop(path.name, None)
            if not checked_cells(nb):
                continue
            NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
            cells = {}
            for i in checked_cells(nb):
                outs = []
                for o in nb.cells[i].outputs:
                    if o.output_type in ("execute_result", "display_data"):
                        o.data = {k: v for k, v in o.data.items() if k in TEXT_MIME}
                        o.metadata = {}
                        o.pop("execution_count", None)
                    outs.append(o)
                cells[nb.cells[i].id] = outs
            expected[path.name] = cells
            print("updated", path.name, "cells", list(cells))
    EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:2] != ["--update"]:
        sys.exit("usage: tests/notebooks/test_nbval.py --update [NOTEBOOK ...]")
    update([Path(p).resolve() for p in sys.argv[2:]] or NOTEBOOKS)
