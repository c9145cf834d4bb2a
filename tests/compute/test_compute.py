"""Issue 18 items 1-2: sweeps, walk-forward folds, optimizer batches and experiment runs on a Dask cluster give
the local results (to 1e-12); the bars go once to each worker; numba threads x workers stay within the cores; a
sweep resumes from its chunk cache after a worker or the client is killed.

ONE LocalCluster (2 worker processes, as ``--cluster local:2`` starts it) serves the whole module; the tests reach
it through its ``tcp://`` address, as a user's ``--cluster tcp://HOST:PORT`` does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars

from peaktrade import compute
from peaktrade.backtest import sweep
from peaktrade.compute import ChunkCache, ComputeError, parse_cluster

ROOT = Path(__file__).resolve().parents[2]
OPTS = {"fees": 0.001, "slippage": 0.0, "execution": "close"}
GRID = {"fast": range(3, 23), "slow": range(30, 90, 3)}  # 400 combinations


@pytest.fixture(scope="module")
def cluster():
    """The module's LocalCluster (``--cluster local:2``): yields its scheduler address."""
    with compute.dask_client(parse_cluster("local:2")) as client:
        yield client.scheduler.address


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return random_bars(3000, seed=5, drift=0.0002)


@pytest.fixture(scope="module")
def local(bars):
    return sweep("ma_crossover", bars, **OPTS, **GRID)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-12)


def test_parse_cluster_when_spec_is_not_understood_then_error_names_it_and_the_forms():
    for bad in ("dask", "local:0", "local:999", "tcp://nohost", "http://h:1", 3):
        with pytest.raises(ComputeError, match=r"cluster=.*is invalid: expected"):
            parse_cluster(bad)
    assert parse_cluster("local:1").workers == 1 and parse_cluster("tcp://10.0.0.5:8786").address
    assert not parse_cluster(None).distributed and not parse_cluster("local").distributed


def test_sweep_when_run_on_cluster_in_chunks_then_table_and_part_sums_equal_the_local_run(cluster, bars, local,
                                                                                          tmp_path):
    with compute.backend(cluster, chunk=37, cache=tmp_path / "c") as be:
        scattered = []
        real = be.client.scatter

        def spy(data, **kw):  # the real scatter, recorded: the bars go once to every worker, not with each task
            scattered.append((type(data).__name__, kw.get("broadcast")))
            return real(data, **kw)

        be.client.scatter = spy
        res = be.sweep("ma_crossover", bars, **OPTS, **GRID)
    _same(res.table, local.table)
    np.testing.assert_allclose(res.part_sums, local.part_sums, rtol=0, atol=1e-12)
    assert res.sharpe_moments == pytest.approx(local.sharpe_moments, rel=1e-12)
    c = res.compute
    assert (c.chunks, c.computed, c.cached, c.workers) == (11, 11, 0, 2)
    assert scattered == [("DataFrame", True)]


def test_sweep_when_top_kept_on_cluster_then_same_rows_and_pbo_sample_as_local(cluster, bars):
    kw = {**OPTS, "fast": range(3, 13), "slow": range(30, 60, 2), "top": 7, "pbo_sample": 50}
    loc = sweep("ma_crossover", bars, **kw)
    with compute.backend(cluster, chunk=16, cache=False) as be:
        res = be.sweep("ma_crossover", bars, **kw)
    _same(res.table, loc.table)
    np.testing.assert_allclose(res.part_sums, loc.part_sums, rtol=0, atol=1e-12)
    assert res.part_sample == loc.part_sample and res.compute.cache_dir is None


def test_sweep_when_run_twice_then_second_reads_every_chunk_and_other_options_miss(cluster, bars, local, tmp_path):
    with compute.backend(cluster, chunk=100, cache=tmp_path / "c") as be:
        first = be.sweep("ma_crossover", bars, **OPTS, **GRID)
        again = be.sweep("ma_crossover", bars, **OPTS, **GRID)
        other = be.sweep("ma_crossover", bars, **{**OPTS, "fees": 0.002}, **GRID)
        moved = be.sweep("ma_crossover", bars.iloc[1:], **OPTS, **GRID)
    assert (first.compute.computed, again.compute.cached, again.compute.computed) == (4, 4, 0)
    assert other.compute.cached == 0 and moved.compute.cached == 0  # keyed by options and data fingerprint
    _same(again.table, local.table)
    assert len(ChunkCache(tmp_path / "c")) == 12


def test_tasks_when_on_local_cluster_then_numba_threads_times_workers_within_cores(cluster):
    def threads(_: int) -> int:
        import numba

        return numba.get_num_threads()

    with compute.backend(cluster) as be:
        got = be.map(threads, [0, 1, 2, 3])
        n_workers = be.workers
    assert n_workers == 2 and max(got) * n_workers <= compute.cores()


def test_walk_forward_cli_when_cluster_given_then_same_document_as_in_process(cluster, cfg, cli):
    argv = ["walk-forward", "ma_crossover", "--exchange", "synthetic", "--train", "500", "--test", "250",
            "--grid", "fast=5:30:5", "--grid", "slow=40:100:20", "--json", "--cluster"]
    dist, loc = cli(*argv, cluster), cli(*argv, "local")
    assert dist.exit_code == 0 and loc.exit_code == 0, dist.stderr + loc.stderr
    assert json.loads(dist.stdout) == json.loads(loc.stdout)


def test_optimize_when_batches_run_on_cluster_then_trials_equal_local(cluster, bars, tmp_path):
    from peaktrade.experiments.optimize import optimize

    kw = {**OPTS, "trials": 12, "batch": 6, "seed": 3, "sampler": "random", "fast": range(3, 30), "slow": range(30, 90)}
    loc = optimize("ma_crossover", bars, study="loc", storage=str(tmp_path / "a.sqlite"), **kw)
    dist = optimize("ma_crossover", bars, study="dist", storage=str(tmp_path / "b.sqlite"), cluster=cluster, **kw)
    _same(dist.trials.table, loc.trials.table)
    assert dist.n_batches == loc.n_batches == 2


def test_sweep_when_a_worker_is_killed_mid_sweep_then_it_completes_equal_to_local(cluster, bars, local, tmp_path):
    cache = ChunkCache(tmp_path / "c")
    out: dict[str, object] = {}
    with compute.backend(cluster, chunk=5, cache=cache.root) as be:  # 80 chunks
        pids = be.client.run(os.getpid)
        job = threading.Thread(target=lambda: out.update(res=be.sweep("ma_crossover", bars, **OPTS, **GRID)))
        job.start()
        deadline = time.monotonic() + 120
        while len(cache) < 2 and job.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        done_at_kill = len(cache)
        os.kill(next(iter(pids.values())), signal.SIGKILL)  # its nanny starts a new one; its tasks are rerun
        job.join(180)
        be.client.wait_for_workers(2, timeout=60)
    assert 0 < done_at_kill < 80  # killed mid-sweep
    res = out["res"]
    _same(res.table, local.table)
    assert res.compute.computed == 80 and len(cache) == 80


def test_sweep_cli_when_client_killed_mid_sweep_then_rerun_computes_only_the_missing_chunks(cluster, make_cfg, cli,
                                                                                            tmp_path):
    cache_dir = tmp_path / "chunks"
    make_cfg(compute={"chunk": 8, "cache_dir": str(cache_dir)})
    argv = ["sweep", "ma_crossover", "--exchange", "synthetic", "--grid", "fast=2:42:1", "--grid", "slow=50:105:5",
            "--json", "--cluster", cluster]  # 40 x 11 = 440 combinations: 55 chunks
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "peaktrade.cli.main", *argv], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        cache = ChunkCache(cache_dir)
        deadline = time.monotonic() + 120
        while len(cache) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client dies: no cleanup, no goodbye to the scheduler
        proc.communicate()
    done = len(cache)
    assert 0 < done < 55, proc.returncode
    rerun = cli(*argv)
    assert rerun.exit_code == 0, rerun.stderr
    doc = json.loads(rerun.stdout)
    assert doc["compute"] == {"backend": "dask", "cluster": cluster, "workers": 2, "chunks": 55,
                              "computed": 55 - done, "cached": done, "cache_dir": str(cache_dir)}
    local = json.loads(cli(*argv[:-2], "--cluster", "local").stdout)
    assert local["compute"] == {"backend": "local"} and local["combinations"] == doc["combinations"] == 440
    for a, b in zip(doc["top"], local["top"], strict=True):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=0, abs=1e-12, nan_ok=True), k


def test_sweep_cli_when_cluster_spec_is_bad_then_one_line_error_and_nonzero(cfg, cli):
    r = cli("sweep", "ma_crossover", "--exchange", "synthetic", "--grid", "fast=5,10", "--cluster", "local:x")
    assert r.exit_code != 0 and "Traceback" not in r.stderr
    assert "cluster='local:x' is invalid: expected 'local'" in r.stderr


def _tiny_spec(tmp_path: Path) -> Path:
    """A spec of two runs of a notebook that does almost nothing (the kernels' start is the cost)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('x: int = 1  # a number\ntrack: bool = False\nparent_run_id: str = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("y = 2 * x")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    spec = tmp_path / "tiny.toml"
    spec.write_text(f'name = "tiny"\nnotebook = "{tmp_path / "tiny.ipynb"}"\n[[runs]]\nx = 1\n[[runs]]\nx = 2\n')
    return spec


def test_experiment_run_when_on_cluster_then_each_run_is_a_task_tracked_under_the_batch(cluster, make_cfg, cli,
                                                                                         tmp_path):
    import mlflow

    make_cfg(tracking={"uri": f"sqlite:///{tmp_path}/mlruns.db", "artifacts": str(tmp_path / "art")},
             reports={"dir": str(tmp_path / "reports")}, runs={"dir": str(tmp_path / "runs")})
    r = cli("experiment", "run", str(_tiny_spec(tmp_path)), "--out", str(tmp_path / "out"), "--cluster", cluster)
    assert r.exit_code == 0, r.stderr
    assert len(sorted((tmp_path / "out").glob("*.ipynb"))) == 2
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    (parent,) = [x for x in runs if x.data.tags.get("peaktrade.kind") == "batch"]
    nb_runs = [x for x in runs if x.data.tags.get("peaktrade.kind") == "notebook"]
    assert len(nb_runs) == 2 and all(x.data.tags["mlflow.parentRunId"] == parent.info.run_id for x in nb_runs)
    assert sorted(x.data.params["x"] for x in nb_runs) == ["1", "2"] and parent.data.metrics["n_ok"] == 2


def test_code_version_when_strategy_code_has_no_file_then_none_so_never_cached():
    import dataclasses

    from peaktrade.compute import code_version
    from peaktrade.strategies import get_strategy

    lib = get_strategy("ma_crossover")
    assert code_version(lib) == code_version(lib) is not None
    ns: dict = {"__name__": "typed_in_a_notebook"}
    exec("def prepare(prices, params):\n    raise AssertionError", ns)  # no file behind it
    assert code_version(dataclasses.replace(lib, prepare=ns["prepare"])) is None
