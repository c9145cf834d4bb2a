"""Where work runs: in process (the embedded default) or on a Dask cluster (``--cluster local:N`` or
``tcp://HOST:PORT``), with a disk cache of sweep chunks so a killed sweep resumes. docs/scale.md.

>>> with compute.backend("local:2") as be:          # doctest: +SKIP
...     res = be.sweep("ma_crossover", bars, fast=range(5, 50), slow=range(60, 250, 5))
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from peaktrade.compute._cache import CACHE_VERSION, ChunkCache, code_version
from peaktrade.compute._cluster import Cluster, ComputeError, cores, dask_client, parse_cluster, resolve_cluster
from peaktrade.compute._tasks import (
    DEFAULT_CHUNK,
    ChunkCounts,
    DaskSweepRunner,
    map_tasks,
    shippable_config,
    strategy_ref,
)


class Backend:
    """A compute backend opened by :func:`backend`: in process (``client`` None) or a Dask client."""

    def __init__(self, cluster: Cluster, client: Any, *, config: Any, chunk: int, cache: ChunkCache | None,
                 progress: bool | None) -> None:
        self.cluster, self.client, self.config = cluster, client, config
        self.chunk, self.cache, self.progress = chunk, cache, progress

    @property
    def distributed(self) -> bool:
        return self.client is not None

    @property
    def workers(self) -> int:
        """Return the workers of the cluster (1 in process)."""
        return 1 if self.client is None else max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))

    def sweep_runner(self, *, chunk: int | None = None, cache: bool = True) -> DaskSweepRunner | None:
        """Return the ``runner=`` of :func:`peaktrade.backtest.sweep` for this backend (None in process):
        chunks of ``chunk`` combinations (default the backend's), cached unless ``cache`` is False."""
        if self.client is None:
            return None
        return DaskSweepRunner(self.client, self.cluster, chunk=chunk or self.chunk,
                               cache=self.cache if cache else None, progress=self.progress)

    def sweep(self, strategy: Any, bars: Any, **kwargs: Any) -> Any:
        """Return :func:`peaktrade.backtest.sweep` run on this backend: the same table as in process (to 1e-12);
        distributed, ``SweepResult.compute`` says how many chunks were computed and how many read from cache."""
        from peaktrade.backtest.sweep import sweep

        kwargs.setdefault("config", self.config)
        runner = self.sweep_runner()
        if runner is None:
            return sweep(strategy, bars, **kwargs)
        res = sweep(strategy, bars, runner=runner, **kwargs)
        res.compute = runner.counts
        return res

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *, shared: dict[str, Any] | None = None,
            title: str = "tasks", on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        """Return ``[fn(item, **shared) for item in items]``: tasks on the cluster (``shared`` scattered once per
        worker), or in this process in order. ``on_result(i, result)`` as each completes."""
        if self.client is None:
            out = []
            for i, item in enumerate(items):
                out.append(fn(item, **(shared or {})))
                if on_result is not None:
                    on_result(i, out[-1])
            return out
        return map_tasks(self.client, fn, items, shared=shared, title=title, on_result=on_result,
                         progress=bool(self.progress))


@contextlib.contextmanager
def backend(cluster: Any = None, *, config: Any = None, chunk: int | None = None,
            cache: bool | str | Path | None = None, progress: bool | None = None) -> Iterator[Backend]:
    """Open the compute backend of ``cluster`` (see :func:`parse_cluster`; None: the config's ``[compute]``).

    Parameters
    ----------
    chunk
        Combinations per task of a distributed sweep (default ``[compute] chunk``).
    cache
        Cache finished chunks on disk: True (``[compute] cache_dir``), a directory, or False (default
        ``[compute] cache``).
    progress
        One progress bar (stderr) per distributed job; None: for long sweeps only.
    """
    from peaktrade.config import Config, load_config

    cfg = config if isinstance(config, Config) else load_config(config)
    cl = resolve_cluster(cluster, cfg)
    chunk = cfg.compute.chunk if chunk is None else chunk
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ComputeError(f"chunk={chunk!r} is invalid: expected a positive int (combinations per task)")
    cache = cfg.compute.cache if cache is None else cache
    store = None if cache is False else ChunkCache(cfg.chunk_cache_dir if cache is True else Path(cache))
    if not cl.distributed:
        yield Backend(cl, None, config=cfg, chunk=chunk, cache=store, progress=progress)
        return
    with dask_client(cl) as client:
        yield Backend(cl, client, config=cfg, chunk=chunk, cache=store, progress=progress)


def sweep(strategy: Any, bars: Any, *, cluster: Any = None, chunk: int | None = None,
          cache: bool | str | Path | None = None, progress: bool | None = None, config: Any = None,
          **kwargs: Any) -> Any:
    """Return :func:`peaktrade.backtest.sweep` on ``cluster`` (one :func:`backend` for this sweep)."""
    with backend(cluster, config=config, chunk=chunk, cache=cache, progress=progress) as be:
        return be.sweep(strategy, bars, progress=progress, **kwargs)


__all__ = ["CACHE_VERSION", "DEFAULT_CHUNK", "Backend", "ChunkCache", "ChunkCounts", "Cluster", "ComputeError",
           "backend", "code_version", "cores", "dask_client", "parse_cluster", "resolve_cluster", "shippable_config",
           "strategy_ref", "sweep"]
