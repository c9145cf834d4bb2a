"""Distributed jobs on a Dask cluster: a sweep's blocks split into parameter chunks (each chunk a task, cached on
disk), and independent tasks (walk-forward folds, experiment runs) mapped over a cluster. The bars are
scattered once to every worker (``Client.scatter(..., broadcast=True)``), never shipped with each task."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.compute._cache import ChunkCache, code_version
from peaktrade.compute._cluster import Cluster, limit_threads, progress_bar, thread_limits

#: Combinations per task of a distributed sweep. Fixed (not derived from the worker count), so the chunks and
#: their cache keys are the same whatever cluster reruns a sweep; large enough that a task's fixed cost (its
#: prepare, benchmark and Python set-up, ~10 ms) stays small beside its kernel time on real bars.
DEFAULT_CHUNK = 1000


@dataclass
class ChunkCounts:
    """How a distributed sweep's chunks were obtained (``SweepResult`` reports it as ``compute``)."""

    cluster: str = ""
    workers: int = 0
    chunks: int = 0
    cached: int = 0
    computed: int = 0
    cache_dir: str | None = None
    errors: list[str] = field(default_factory=list)


def strategy_ref(strat: Any, config: Any) -> Any:
    """Return what a worker resolves the strategy from: its name when the registry (library, registered, the
    user's folders) gives back this very strategy, else the object itself (pickled)."""
    from peaktrade.strategies.registry import get_strategy

    try:
        return strat.name if get_strategy(strat.name, config=config) is strat else strat
    except Exception:  # noqa: BLE001 (not in any registry: ship the object)
        return strat


def shippable_config(config: Any) -> Any:
    """Return ``config`` without its secrets (what tasks get: workers never need exchange keys)."""
    from peaktrade.config import Config, Secrets

    return config.model_copy(update={"secrets": Secrets()}) if isinstance(config, Config) else config


def _sweep_chunk(strategy: Any, bars: pd.DataFrame, combos: list[dict[str, Any]], options: dict[str, Any],
                 n_parts: int, config: Any, limits: dict[str, int]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A task: the fused sweep of exactly these combinations; return the stat columns, stats and part sums."""
    from peaktrade.backtest.sweep import sweep

    limit_threads(limits)
    res = sweep(strategy, bars, combinations=combos, config=config, n_parts=n_parts, progress=False,
                memory_limit=2**62, **options)  # the client checked the whole sweep's memory
    if len(res.table) != len(combos):  # the client ran the constraints: every combination is valid
        raise RuntimeError(f"chunk of {len(combos)} combinations gave {len(res.table)} rows")
    stats = res.table.drop(columns=res.param_names)
    return list(stats.columns), stats.to_numpy(dtype=float), res.part_sums


class DaskSweepRunner:
    """The ``runner`` of :func:`peaktrade.backtest.sweep` on a Dask client: each block's combinations in chunks
    of ``chunk``, cached chunks read back, the others run as tasks and cached as they complete."""

    def __init__(self, client: Any, cluster: Cluster, *, chunk: int = DEFAULT_CHUNK, cache: ChunkCache | None = None,
                 progress: bool | None = None, counts: ChunkCounts | None = None) -> None:
        self.client, self.cluster, self.chunk, self.cache, self.progress = client, cluster, chunk, cache, progress
        self.counts = counts if counts is not None else ChunkCounts()

    @contextlib.contextmanager
    def __call__(self, strat: Any, bars: pd.DataFrame, *, columns: list[str], options: dict[str, Any],
                 n_parts: int, config: Any, total: int, local: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
        from distributed import as_completed

        from peaktrade.data.schema import fingerprint

        client = self.client
        config = shippable_config(config)
        limits = thread_limits(client)
        c = self.counts
        c.cluster, c.workers = str(self.cluster), len(limits)
        c.cache_dir = None if self.cache is None else str(self.cache.root)
        code = code_version(strat) if self.cache is not None else None
        base = None if code is None else {"data": fingerprint(bars), "code": code, "strategy": strat.name,
                                          "options": options, "n_parts": n_parts, "n_bars": len(bars)}
        ref = strategy_ref(strat, config)
        # once per worker, whatever the number of tasks (a key of its own: releasing it touches no other job's copy)
        bars_f = client.scatter(bars, broadcast=True, hash=False)
        show = self.progress if self.progress is not None else total * len(bars) > 50_000_000

        def run(offset: int, combos: list[dict[str, Any]]) -> tuple[pd.DataFrame, np.ndarray]:
            if not combos:
                return local(offset, combos)
            pieces: list[Any] = []
            futures = {}
            for i, a in enumerate(range(0, len(combos), self.chunk)):
                part = combos[a:a + self.chunk]
                key = None if base is None else ChunkCache.key(**base, combos=part)
                hit = None if key is None else self.cache.get(key)
                pieces.append(hit)
                c.chunks += 1
                if hit is not None:
                    c.cached += 1
                    advance(len(part))
                else:
                    f = client.submit(_sweep_chunk, ref, bars_f, part, options, n_parts, config, limits, pure=False)
                    futures[f] = (i, key, len(part))
            for f in as_completed(list(futures)):
                i, key, n = futures.pop(f)
                pieces[i] = f.result()
                if key is not None:
                    self.cache.put(key, *pieces[i])
                c.computed += 1
                advance(n)
            stat_cols = pieces[0][0]
            stats = np.concatenate([p[1] for p in pieces])
            part_sums = np.concatenate([p[2] for p in pieces])
            # the parameter columns built as the in-process runner builds them (same dtypes, whatever the chunks)
            params = pd.DataFrame([{k: cb.get(k) for k in columns} for cb in combos], columns=columns)
            table = pd.concat([params, pd.DataFrame(stats, columns=stat_cols)], axis=1)
            table.index = pd.RangeIndex(offset, offset + len(combos))
            return table, part_sums

        with progress_bar(f"sweep {strat.name} on {self.cluster}", total, show) as advance:
            try:
                yield run
            finally:
                client.cancel([bars_f])


def map_tasks(client: Any, fn: Callable[..., Any], items: Sequence[Any], *, shared: dict[str, Any] | None = None,
              title: str = "tasks", progress: bool = False,
              on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """Run ``fn(item, **shared)`` for every item as a task on ``client``; return the results in item order.

    ``shared`` values (the bars) are scattered once to every worker. ``on_result(i, result)`` is called on
    the client as each task completes (in completion order). A failed task raises its exception here."""
    from distributed import as_completed

    scattered = {k: client.scatter(v, broadcast=True, hash=False) for k, v in (shared or {}).items()}
    limits = thread_limits(client)
    futures = {client.submit(_limited, fn, item, limits, pure=False, **scattered): i for i, item in enumerate(items)}
    out: list[Any] = [None] * len(items)
    with progress_bar(title, len(items), progress) as advance:
        try:
            for f in as_completed(list(futures)):
                i = futures[f]
                out[i] = f.result()
                if on_result is not None:
                    on_result(i, out[i])
                advance()
        finally:
            client.cancel(list(futures) + list(scattered.values()))
    return out


def _limited(fn: Callable[..., Any], item: Any, limits: dict[str, int], **shared: Any) -> Any:
    limit_threads(limits)
    return fn(item, **shared)
