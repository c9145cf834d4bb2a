"""Where work runs: the ``--cluster`` spec (``local``, ``local:N``, ``tcp://HOST:PORT``), the Dask client
for it, and the one progress bar a distributed job shows."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from peaktrade.errors import PeakTradeError

EXPECTED = "'local' (in-process threads), 'local:N' (a Dask LocalCluster of N worker processes) or a scheduler " \
           "address 'tcp://HOST:PORT'"


class ComputeError(PeakTradeError):
    """A compute backend that cannot be used (a bad ``--cluster`` spec, a scheduler that does not answer)."""


@dataclass(frozen=True)
class Cluster:
    """A parsed ``--cluster`` spec: ``kind`` is "local" (in process), "local_cluster" (``workers`` processes on
    this machine) or "address" (an existing scheduler at ``address``)."""

    kind: str
    workers: int = 0
    address: str = ""

    @property
    def distributed(self) -> bool:
        return self.kind != "local"

    def __str__(self) -> str:
        return {"local": "local", "local_cluster": f"local:{self.workers}"}.get(self.kind, self.address)


def cores() -> int:
    """Return the cores this process may use (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_cluster(spec: Any) -> Cluster:
    """Return the :class:`Cluster` of a ``--cluster`` value (a str, a Cluster or None = local); raise
    :class:`ComputeError` naming the value and what is expected."""
    if spec is None:
        return Cluster("local")
    if isinstance(spec, Cluster):
        return spec
    if not isinstance(spec, str):
        raise ComputeError(f"cluster={spec!r} is invalid: expected {EXPECTED}")
    s = spec.strip()
    if s == "local":
        return Cluster("local")
    m = re.fullmatch(r"local:(\d+)", s)
    if m:
        n, limit = int(m.group(1)), cores()
        # one numba thread per worker at least: more worker processes than cores would oversubscribe them
        if not 1 <= n <= limit:
            raise ComputeError(f"cluster={spec!r} is invalid: expected local:N with 1 <= N <= {limit} (the cores of "
                               "this machine; each worker gets cores // N numba threads)")
        return Cluster("local_cluster", workers=n)
    if re.fullmatch(r"(tcp|tls)://[^\s/:]+:\d{1,5}", s):
        return Cluster("address", address=s)
    raise ComputeError(f"cluster={spec!r} is invalid: expected {EXPECTED}")


def resolve_cluster(cluster: Any, config: Any = None) -> Cluster:
    """Return the cluster to use: ``cluster`` when given, else the config's ``[compute]`` section (``backend =
    "local"``: in process; ``"dask"``: its ``cluster``, default ``local:<cores>``)."""
    if cluster is not None:
        return parse_cluster(cluster)
    from peaktrade.config import Config, load_config

    cfg = config if isinstance(config, Config) else load_config(config)
    if cfg.compute.backend == "local":
        return Cluster("local")
    return parse_cluster(cfg.compute.cluster or f"local:{cores()}")


@contextlib.contextmanager
def dask_client(cluster: Cluster) -> Iterator[Any]:
    """Yield a ``distributed.Client`` for ``cluster``: a ``LocalCluster`` of ``cluster.workers`` processes
    (one task thread each, ``cores // workers`` numba threads each; closed on exit) or a connection to the
    scheduler at ``cluster.address`` (left running on exit)."""
    from distributed import Client, LocalCluster

    if cluster.kind == "local_cluster":
        threads = max(1, cores() // cluster.workers)
        # NUMBA_NUM_THREADS before numba is imported in the worker: numba threads x workers <= cores
        with LocalCluster(n_workers=cluster.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          scheduler_port=0, silence_logs=logging.ERROR,
                          env={"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": "1"}) as lc, \
                Client(lc) as client:
            yield client
        return
    try:
        client = Client(cluster.address, timeout="10s")
    except (OSError, TimeoutError) as e:
        raise ComputeError(f"cluster={cluster.address!r}: no Dask scheduler answered there ({e}); start one with "
                           "`dask scheduler` and `dask worker ADDRESS`, or use --cluster local:N") from None
    with client:
        yield client


def thread_limits(client: Any) -> dict[str, int]:
    """Return the numba threads each worker may use: its host's cores over the task threads of every worker on
    that host (so numba threads × task threads never exceed a machine's cores, whatever the cluster)."""
    info = client.scheduler_info(n_workers=-1)["workers"]
    host_cores = client.run(cores)
    per_host: dict[str, int] = {}
    for w in info.values():
        per_host[w["host"]] = per_host.get(w["host"], 0) + int(w["nthreads"])
    return {addr: max(1, int(host_cores.get(addr, 1)) // max(per_host[w["host"]], 1)) for addr, w in info.items()}


def limit_threads(limits: dict[str, int]) -> None:
    """In a task: cap this thread's numba threads at its worker's share of the cores (:func:`thread_limits`)."""
    import numba
    from distributed import get_worker

    n = limits.get(get_worker().address)
    if n:
        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


@contextlib.contextmanager
def progress_bar(title: str, total: int, show: bool) -> Iterator[Any]:
    """Yield ``advance(n)``: one bar on stderr for a whole distributed job (stdout carries only results, so
    ``--json`` documents stay parseable), advanced as its futures complete (``distributed.as_completed``)."""
    if not show:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(title, total=total)
        yield lambda n=1: bar.update(task, advance=n)
