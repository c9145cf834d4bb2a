"""Fused parameter sweeps: indicators once per unique parameter value, then signals, simulation and
metrics per combination inside one parallel numba kernel (``nb.sweep_nb``)."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd

from peaktrade._files import atomic_write
from peaktrade.backtest import nb
from peaktrade.backtest.engine import check_bars, pop_options, split_params
from peaktrade.backtest.enums import SP_SL, SP_TP, SP_TRAIL, STAT_KEYS
from peaktrade.backtest.options import stop_distance
from peaktrade.backtest.stats import BENCHMARK_KEYS, benchmark_values, time_axis
from peaktrade.errors import BacktestError
from peaktrade.strategies.base import STOP_PARAMS, prices_from_bars
from peaktrade.strategies.registry import get_strategy, search_space

BLOCK = 1024  # bars per signal block: small enough to stay in L1/L2, large enough to amortize the call
#: Default budget (bytes) of the per-combination indicator rows one ``prepare`` may hold in a sweep
#: (strategies with ``rows_per_combo``, e.g. the pandas level): more combinations are prepared in chunks.
MAX_MEMORY = 512 * 2**20
#: Combinations per block when the whole table is kept (one block for most grids: the kernel's parallel
#: loop runs over a block, so blocks are large); ``top=``/``out=`` sweeps size blocks from the memory limit.
BLOCK_COMBOS = 65_536
#: Rows the returned table keeps when ``out=`` is given without ``top=``.
DEFAULT_OUT_TOP = 10
#: Combinations whose PBO part sums a ``top=``/``out=`` sweep keeps (a uniform random sample, seeded).
PBO_SAMPLE = 1000
PBO_SEED = 0
#: Bar-combinations per second assumed by :func:`estimate_sweep` without ``calibrate``: ma_crossover on real
#: BTC hourly bars (2,000 combinations x 70,253 bars in 0.74 s, fees 0.26 %, close fills) on a quiet 2-core
#: machine, rounded down. Other strategies, stops and machines differ: ``calibrate=True`` measures instead.
ASSUMED_RATE = 150e6
#: Bars per second one indicator row takes to compute, assumed by :func:`estimate_sweep` without ``calibrate``
#: (an exact-sum SMA of 70,253 bars measured 11 ms, 6 M bars/s, on the shared 2-core machine under a load
#: of ~14; assumed about 5x faster on a quiet one).
ASSUMED_ROW_RATE = 30e6
#: Seconds of Python work per combination besides the kernel (its parameter dict, constraint check, prepare
#: entry, table row): measured 32 us on this 2-core machine (ma_crossover, 50 bars, 2,000 vs 20,000
#: combinations), rounded down. Also only assumed: ``calibrate=True`` measures both together.
PY_COMBO_SECONDS = 30e-6
#: Bytes of Python objects one combination of a running block holds besides its table row and part sums
#: (its parameter dict, signal parameters, kernel rows): tracemalloc measured a block's peak at 1,246
#: bytes per combination of ma_crossover with 16 parts, table row and part sums included; rounded up.
PY_COMBO_BYTES = 1024
#: Combinations ``estimate_sweep(calibrate=True)`` runs to measure the time per combination.
CALIBRATE_COMBOS = 256
#: Grid points whose constraints are checked together (one object array of this many values per parameter).
CHECK_CHUNK = 65_536
#: Grids of at most this many combinations are counted exactly before a sweep; larger ones from a sample.
EXACT_COUNT = 50_000
#: Grid points drawn (seeded) to estimate the share a larger grid's constraints keep (~1 % error at 16,384).
COUNT_SAMPLE = 16_384


@dataclass
class SweepResult:
    """Result of a sweep: one row per combination in ``table`` (parameters, then stats)."""

    table: pd.DataFrame
    strategy: str
    grid: dict[str, list[Any]]
    n_skipped: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    n_bars: int = 0
    #: (n_combos, n_parts, 2): sum of bar returns and of squared bar returns over each of
    #: ``n_parts`` contiguous equal parts of the bars (row order = table order); for CSCV/PBO.
    part_sums: np.ndarray | None = None
    #: bars in each part
    part_bars: np.ndarray | None = None
    #: backtest options the sweep ran with (``run(**options, **params)`` reproduces a row)
    options: dict[str, Any] = field(default_factory=dict)
    #: where ``options`` came from (config file and the names given explicitly)
    options_source: str = ""
    #: combinations run (``len(table)`` unless ``top=``/``out=`` kept fewer rows)
    n_combos: int = 0
    #: None: ``part_sums`` has one row per table row (in table order). Else what its rows are (``top=``/
    #: ``out=``): a uniform random sample of the non-ruined combinations, e.g. "a random sample of 1,000 of 4,950
    #: non-ruined combinations (seed 0)".
    part_sample: str | None = None
    #: the file every row was streamed to (``out=``)
    path: Path | None = None
    #: the memory and time estimate the sweep was planned with
    estimate: SweepEstimate | None = None
    #: (count, sum, sum of squares) of the finite ``sharpe`` of every combination run, so the trials'
    #: Sharpe variance (for the DSR) is known when ``top=`` keeps only some rows
    sharpe_moments: tuple[int, float, float] = (0, 0.0, 0.0)
    #: how a distributed sweep ran (``peaktrade.compute.ChunkCounts``: cluster, chunks computed and cached);
    #: None in process
    compute: Any = None

    @property
    def costs(self) -> str:
        """One line stating the costs and execution every row traded with (and their source)."""
        from peaktrade.backtest.options import describe_options

        return describe_options(self.options, self.options_source or None)

    @property
    def param_names(self) -> list[str]:
        return list(self.grid)

    def eligible(self, metric: str = "sharpe") -> pd.Series:
        """Return the mask of the rows that may be selected by ``metric`` (see :func:`eligible`)."""
        return eligible(self.table, metric)

    def best(self, metric: str = "sharpe", *, minimize: bool = False) -> pd.Series:
        """Return the row with the best ``metric`` (NaN rows and ruined combinations never win)."""
        ranked = rank_table(self.table, metric, minimize=minimize)
        if not len(ranked):
            n_ruined = int((self.table["ruined"] == 1.0).sum()) if "ruined" in self.table else 0
            raise BacktestError(f"no combination has a finite {metric} without ruin "
                                f"({n_ruined} of {len(self.table)} ruined)")
        return ranked.iloc[0]

    def best_params(self, metric: str = "sharpe", *, minimize: bool = False) -> dict[str, Any]:
        """Return the parameters of :meth:`best` as a dict."""
        label = self.best(metric, minimize=minimize).name
        return {k: _py(self.table.at[label, k]) for k in self.param_names}

    def heatmap(self, x: str, y: str, metric: str = "sharpe"):
        """Return a plotly heatmap of ``metric`` over parameters ``x`` and ``y`` (best over the rest;
        ruined combinations are left blank)."""
        import plotly.graph_objects as go

        for name in (x, y):
            if name not in self.param_names:
                raise BacktestError(f"{name!r} is not a swept parameter: expected one of {', '.join(self.param_names)}")
        table = self.table.assign(**{metric: self.table[metric].where(eligible(self.table, metric))})
        piv = table.pivot_table(index=y, columns=x, values=metric, aggfunc="max", dropna=False)
        fig = go.Figure(go.Heatmap(z=piv.to_numpy(), x=piv.columns, y=piv.index, colorscale="Viridis",
                                   colorbar=dict(title=metric)))
        fig.update_layout(title=f"{self.strategy}: {metric}", xaxis_title=x, yaxis_title=y)
        return fig


def eligible(table: pd.DataFrame, metric: str) -> pd.Series:
    """Return the mask of sweep-table rows that may be selected or ranked by ``metric``: a value
    that is not NaN, on an account that was not ruined (a ruined combination lost everything,
    whatever its metric on the path up to the ruin says)."""
    if metric not in table:
        raise BacktestError(f"metric={metric!r} is invalid: expected one of {', '.join(STAT_KEYS)}")
    ok = table[metric].notna()
    if "ruined" in table:
        ok &= table["ruined"] != 1.0
    return ok


def rank_table(table: pd.DataFrame, metric: str, *, minimize: bool = False) -> pd.DataFrame:
    """Return the eligible rows of a sweep table (see :func:`eligible`), best ``metric`` first (ties
    keep table order). What every selection and every "top" listing ranks from."""
    ok = eligible(table, metric)
    return table[ok].sort_values(metric, ascending=minimize, kind="stable")


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _grid_values(name: str, values: Any) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        return [values]
    out = list(values)
    if not out:
        raise BacktestError(f"grid for {name!r} is empty: expected at least one value")
    return out


def _coerced_grid(strat: Any, grids: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Return the grid's names and each one's distinct values coerced (raises naming a bad name or value)."""
    names = list(grids)
    values = [_grid_values(n, grids[n]) for n in names]
    by_name = {p.name: p for p in strat.params}
    unknown = sorted(set(names) - set(by_name) - set(STOP_PARAMS))
    if unknown:
        strat.resolve(dict.fromkeys(unknown, 0))  # raises the standard unknown-parameter error
    # coerce each distinct value once (raises naming the parameter on a bad value)
    return names, [[by_name[n].coerce(v, strategy=strat.name) if n in by_name else v for v in vals]
                   for n, vals in zip(names, values)]


def iter_combos(strategy: Any, grids: dict[str, Any], *,
                block: int = 65_536) -> Iterator[tuple[list[dict[str, Any]], dict[str, int]]]:
    """Yield the valid combinations of a grid in blocks of at most ``block`` (grid order), each with the
    count of the combinations it skipped per broken constraint. Never holds more than one block.

    Each combination is ``{**defaults, **grid point}``. The grid is checked in chunks of about a block of points
    (at most ``CHECK_CHUNK``), each constraint called once over a chunk's columns
    (:meth:`~peaktrade.strategies.base.Strategy.broken_constraints`) where it allows, else point by point; only
    the valid points become dicts (then only the per-point check needs them all)."""
    strat = get_strategy(strategy)
    names, coerced = _coerced_grid(strat, grids)
    base = strat.defaults()
    keys = [*base, *(n for n in names if n not in base)]  # the key order of {**base, **point}
    at = {n: i for i, n in enumerate(names)}
    shape = [len(v) for v in coerced]
    size = math.prod(shape)
    values = [_objects(v) for v in coerced]
    index = {c.text: i for i, c in reversed(list(enumerate(strat.constraints)))}  # a text's first constraint
    make = _dict_maker(keys)
    step = min(CHECK_CHUNK, max(block, 2))  # points in flight: about one block, as many as a block holds
    combos: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    first = True
    for start in range(0, size, step):
        n = min(start + step, size) - start
        idx = np.unravel_index(np.arange(start, start + n), shape) if names else ()
        cols = [values[at[k]][idx[at[k]]] if k in at else _objects(base[k], n) for k in keys]
        broken = strat.broken_constraints(dict(zip(keys, cols)))
        points = None
        if broken is None:  # point by point: each constraint's own truth (and error) for each point
            points = _dicts(make, [c.tolist() for c in cols], n)
            broken = np.fromiter((-1 if (t := strat.broken_constraint(p)) is None else index[t] for p in points),
                                 dtype=np.int64, count=n)
        valid = np.flatnonzero(broken < 0)
        a, v = 0, 0  # the chunk's next point to count, its next valid point to add
        while v < len(valid):
            take = min(block - len(combos), len(valid) - v)
            end = int(valid[v + take - 1]) + 1 if len(combos) + take == block else n
            sel = valid[v:v + take]
            combos += ([points[i] for i in sel] if points is not None
                       else _dicts(make, [c[sel].tolist() for c in cols], take))
            _count_broken(strat, broken[a:end], skipped)
            a, v = end, v + take
            if len(combos) >= block:
                yield combos, skipped
                combos, skipped, first = [], {}, False
        _count_broken(strat, broken[a:], skipped)
    if combos or skipped or first:  # an empty grid still yields one (empty) block: its table has the columns
        yield combos, skipped


def _objects(values: Any, n: int | None = None) -> np.ndarray:
    """Return ``values`` as a 1-D object array of the very objects (whatever their type), or ``n`` times the
    one value ``values`` when ``n`` is given."""
    if n is not None:
        out = np.empty(n, dtype=object)
        out.fill(values)
        return out
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def _dict_maker(keys: list[str]) -> Callable[..., dict[str, Any]]:
    """Return ``f(v0, v1, ...) -> {keys[0]: v0, keys[1]: v1, ...}``: a dict display, compiled once per grid, builds
    a combination ~3x faster than ``dict(zip(keys, values))`` (as ``collections.namedtuple`` compiles its
    class). The keys are parameter names (str), written as literals (``repr``)."""
    if not all(type(k) is str for k in keys):
        return lambda *vals: dict(zip(keys, vals))
    args = ", ".join(f"v{i}" for i in range(len(keys)))
    return eval(f"lambda {args}: {{{', '.join(f'{k!r}: v{i}' for i, k in enumerate(keys))}}}")


def _dicts(make: Callable[..., dict[str, Any]], columns: list[list[Any]], n: int) -> list[dict[str, Any]]:
    """Return the ``n`` combinations of ``columns`` (one list of values per key) built by ``make``."""
    return list(map(make, *columns)) if columns else [make() for _ in range(n)]


def _count_broken(strat: Any, broken: np.ndarray, skipped: dict[str, int]) -> None:
    """Add to ``skipped`` the points of ``broken`` (constraint indices, -1 valid) per constraint text, each new
    text in the order its first point comes (as a point-by-point count would insert it)."""
    hit = broken[broken >= 0]
    if not len(hit):
        return
    codes, first, counts = np.unique(hit, return_index=True, return_counts=True)
    for j in np.argsort(first, kind="stable"):
        text = strat.constraints[int(codes[j])].text
        skipped[text] = skipped.get(text, 0) + int(counts[j])


def _blocks_of(combos: list[dict[str, Any]], skipped: dict[str, int],
               block: int) -> Iterator[tuple[list[dict[str, Any]], dict[str, int]]]:
    """Yield given combinations in blocks of at most ``block``, as :func:`iter_combos` yields a grid's."""
    yield combos[:block], skipped
    for i in range(block, len(combos), block):
        yield combos[i:i + block], {}


def expand_grid(strategy: Any, grids: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Return the valid combinations of a grid and the count of skipped ones per broken constraint."""
    combos: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    for block, skip in iter_combos(strategy, grids, block=2**62):
        combos.extend(block)
        for k, v in skip.items():
            skipped[k] = skipped.get(k, 0) + v
    return combos, skipped


class SweepTooLarge(BacktestError):
    """A sweep whose estimated memory is above its limit, refused before it runs (``estimate`` says why)."""

    def __init__(self, message: str, *, estimate: SweepEstimate) -> None:
        super().__init__(message)
        self.estimate = estimate


def _size(b: float) -> str:
    for unit, f in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= f:
            return f"{b / f:.1f} {unit}"
    return f"{b:.0f} B"


def _duration(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86400 * 2:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} days"


@dataclass(frozen=True)
class SweepEstimate:
    """What a sweep will hold and how long it will take, from combinations × bars (:func:`estimate_sweep`)."""

    strategy: str
    #: valid combinations (after the strategy's constraints), estimated from a sample when not ``exact``; a
    #: sweep whose grid size fits its limit does not count them (then this is the grid size, an upper bound)
    combinations: int
    #: combinations of the grid before constraints
    grid_size: int
    exact: bool
    n_bars: int
    #: "table" (every row kept), "top" (best K kept) or "out" (every row streamed to a file, best K kept)
    mode: str
    #: bytes the sweep will hold at its peak (the sum of ``parts``)
    memory: int
    #: bytes by what holds them: result table, PBO part sums, one block's indicator rows, ...
    parts: dict[str, int]
    #: combinations per block (the unit the sweep runs, streams and ranks)
    block: int
    seconds: float
    #: bar-combinations per second the time assumes, and where that number comes from
    rate: float
    rate_source: str
    limit: int
    limit_source: str

    def describe(self) -> str:
        """One line: combinations × bars, memory (by part) and time, against the limit."""
        approx = "" if self.exact else "~"
        parts = ", ".join(f"{k} {_size(v)}" for k, v in self.parts.items() if v)
        return (f"{self.strategy}: {approx}{self.combinations:,} combinations × {self.n_bars:,} bars ({self.mode}): "
                f"~{_size(self.memory)} ({parts}) of the {_size(self.limit)} limit, ~{_duration(self.seconds)} at "
                f"{self.rate / 1e6:,.0f} M bar-combinations/s ({self.rate_source})")

    def refusal(self, strategy: str) -> str:
        """The one-line refusal of a sweep above its limit, proposing what fits."""
        approx = "" if self.exact else "~"
        parts = ", ".join(f"{k} {_size(v)}" for k, v in self.parts.items() if v)
        if self.mode == "table":
            what = ("keep the best K rows with --top K (top=K), stream every row to a file with --out PATH.parquet "
                    "(out=PATH), or narrow the grid")
        else:  # already bounded by blocks: what is left is one block's indicator rows and the bars
            big = max(self.parts, key=lambda k: self.parts[k])
            what = (f"the largest part is {big} ({_size(self.parts[big])}), which --top/--out do not shrink: narrow "
                    "the grid (fewer distinct parameter values), use fewer bars (--start/--end) or raise the limit")
        return (f"sweep of {strategy} refused: {approx}{self.combinations:,} combinations × {self.n_bars:,} bars would "
                f"hold ~{_size(self.memory)} ({parts}) and take ~{_duration(self.seconds)}, above the memory limit "
                f"{_size(self.limit)} ({self.limit_source}): {what}")


def _memory_limit(memory_limit: int | None, config: Any) -> tuple[int, str]:
    if memory_limit is not None:
        if not (isinstance(memory_limit, int) and not isinstance(memory_limit, bool) and memory_limit > 0):
            raise BacktestError(f"memory_limit={memory_limit!r} is invalid: expected a positive int (bytes)")
        return memory_limit, "memory_limit="
    from peaktrade.config import Config, load_config

    cfg = config if isinstance(config, Config) else load_config(config)
    return cfg.sweep.memory_limit()


def _draw(strat: Any, grids: dict[str, Any], k: int) -> tuple[int, int, list[dict[str, Any]]]:
    """Return (grid size, draws, the valid ones of ``k`` seeded uniform draws of grid points, as combinations)."""
    names, values = _coerced_grid(strat, grids)
    base = strat.defaults()
    rng = np.random.default_rng(PBO_SEED)
    draws = [rng.integers(0, len(v), k) for v in values]
    combos = [{**base, **{n: values[j][d[i]] for j, (n, d) in enumerate(zip(names, draws))}} for i in range(k)]
    return math.prod(len(v) for v in values), k, [p for p in combos if strat.broken_constraint(p) is None]


def _count(strat: Any, grids: dict[str, Any]) -> tuple[int, int, bool]:
    """Return (valid combinations, grid size, exact): counted for small grids, else from a seeded sample."""
    size = math.prod(len(_grid_values(k, v)) for k, v in grids.items())
    if size <= EXACT_COUNT:
        return sum(len(c) for c, _ in iter_combos(strat, grids, block=EXACT_COUNT + 1)), size, True
    size, k, ok = _draw(strat, grids, COUNT_SAMPLE)
    return round(size * len(ok) / k), size, False


def _plan(strat: Any, grids: dict[str, Any], n_bars: int, *, n_parts: int, top: int | None, out: Any,
          max_memory: int, memory_limit: int | None, config: Any, metric: str,
          combo_seconds: float | None = None, row_seconds: float | None = None, rate_source: str = "",
          count: bool = True, n_given: int | None = None) -> SweepEstimate:
    """Validate a sweep's sizing options and estimate what it will hold (see :func:`estimate_sweep`)."""
    if not (isinstance(n_parts, int) and 1 <= n_parts <= n_bars):
        raise BacktestError(f"n_parts={n_parts!r} is invalid: expected an int in [1, {n_bars}]")
    if not (isinstance(max_memory, int) and not isinstance(max_memory, bool) and max_memory > 0):
        raise BacktestError(f"max_memory={max_memory!r} is invalid: expected a positive int (bytes)")
    if top is not None and not (isinstance(top, int) and not isinstance(top, bool) and top >= 1):
        raise BacktestError(f"top={top!r} is invalid: expected an int >= 1 (rows to keep)")
    if out is not None and Path(out).suffix not in (".parquet", ".csv"):
        raise BacktestError(f"out={str(out)!r} is invalid: expected a .parquet or .csv path")
    if metric not in STAT_KEYS:
        raise BacktestError(f"metric={metric!r} is invalid: expected one of {', '.join(STAT_KEYS)}")
    limit, limit_source = _memory_limit(memory_limit, config)
    if combo_seconds is None or row_seconds is None:
        combo_seconds = n_bars / ASSUMED_RATE + PY_COMBO_SECONDS
        row_seconds = n_bars / ASSUMED_ROW_RATE
        rate_source = "assumed: ASSUMED_RATE, PY_COMBO_SECONDS and ASSUMED_ROW_RATE, not measured"
    if n_given is not None:  # exactly these combinations (an optimizer's batch), not the grids' product
        n = size = n_given
        exact = True
    elif count:
        n, size, exact = _count(strat, grids)
    else:  # the grid size: an upper bound of the valid combinations, free to compute
        n = size = math.prod(len(_grid_values(k, v)) for k, v in grids.items())
        exact = False
    row = 8 * (len(grids) + len(STAT_KEYS) + 4)  # params, stats, benchmark columns: 8 bytes a cell
    part = 16 * n_parts
    # one block in flight: Python combinations, its stats and part sums, its frame built twice
    per_block_combo = PY_COMBO_BYTES + 2 * row + part
    if top is None:
        block = BLOCK_COMBOS
    else:  # streaming: blocks of an eighth of the limit, so ranking and writing stay small beside them
        block = int(min(BLOCK_COMBOS, max(256, limit // 8 // per_block_combo)))
    block = max(1, min(block, n or 1))
    # indicator rows of one block: computed once per unique parameter value (the strategy contract), so
    # at most the distinct values of the signal parameters, each row built in a list and stacked (x2)
    sig_names = [k for k in grids if k not in STOP_PARAMS]
    distinct = sum(len(_grid_values(k, grids[k])) for k in sig_names) + len(strat.params)
    rows = min(distinct, block * max(len(strat.params), 1))
    per_combo_rows = getattr(strat, "rows_per_combo", 0)
    if per_combo_rows:  # the pandas level: chunks of at most max_memory, and its memo (at most max_memory) of
        # indicator results, about one a distinct parameter value
        ind = min(per_combo_rows * block * n_bars * 8 * 2, max_memory) + min(distinct * n_bars * 8 * 2, max_memory)
    else:
        ind = (5 + rows) * n_bars * 8 * 2
    parts = {"bars": 6 * n_bars * 8, "indicator rows": ind, "block in flight": block * per_block_combo}
    if top is None:
        # every block's frame and part sums, then their concatenation
        parts["result table"] = 2 * n * row
        parts["PBO part sums"] = 2 * n * part
    else:
        kept = min(top, n)
        parts["kept rows"] = 2 * (kept + block) * row
        parts["PBO sample"] = 2 * min(PBO_SAMPLE, n) * part
        if out is not None:
            parts["writer buffer"] = 2 * block * row
    memory = sum(parts.values())
    # every block prepares its own indicator rows: per combination (the pandas level) or per distinct value
    block_rows = per_combo_rows * block if per_combo_rows else rows
    seconds = n * combo_seconds + math.ceil(n / block) * block_rows * row_seconds
    return SweepEstimate(strategy=strat.name, combinations=n, grid_size=size, exact=exact, n_bars=n_bars,
                         mode="table" if top is None else ("out" if out is not None else "top"), memory=memory,
                         parts=parts, block=block, seconds=seconds, rate=n * n_bars / max(seconds, 1e-12),
                         rate_source=rate_source, limit=limit, limit_source=limit_source)


def estimate_sweep(strategy: Any, bars: pd.DataFrame, *, space: str | None = None, top: int | None = None,
                   out: str | os.PathLike[str] | None = None, n_parts: int = 16, max_memory: int = MAX_MEMORY,
                   memory_limit: int | None = None, metric: str = "sharpe", calibrate: bool = False,
                   config: Any = None, **kwargs: Any) -> SweepEstimate:
    """Return what ``sweep(strategy, bars, ...)`` with the same arguments would hold and how long it would
    take, without running it (what :func:`sweep` checks against its limit before it starts).

    Memory is summed from combinations × bars: the result table (8 bytes a cell, built twice), the PBO part
    sums (16 bytes per part and combination), one block's indicator rows (one row of bars per distinct
    parameter value, the strategy contract; the pandas level's chunks and memo instead), one block's
    Python combinations (``PY_COMBO_BYTES`` each) and the bars; with ``top``/``out`` the kept rows and the
    PBO sample instead of the whole table. The count of combinations is exact up to ``EXACT_COUNT`` grid
    points, else estimated from a seeded sample of ``COUNT_SAMPLE`` through the strategy's constraints.

    Time is combinations × (bars / ``ASSUMED_RATE`` + ``PY_COMBO_SECONDS``), constants measured on a 2-core
    machine, plus for every block its indicator rows × bars / ``ASSUMED_ROW_RATE``. With ``calibrate=True``
    both are measured instead, on this grid and these bars: ``CALIBRATE_COMBOS`` combinations drawn
    uniformly from the grid (seeded; the whole grid when smaller) are prepared (the seconds per indicator
    row) and run as one block (the rest: seconds per combination), after one warm-up combination so a
    one-time compile is not counted. A block's fixed costs count per combination, which errs on the long
    side, as does the estimate of a block's rows (the distinct values of every swept parameter).
    """
    config = _loaded(config)
    strat, opts, _, grids = _setup(strategy, bars, dict(kwargs), config, space)
    if out is not None and top is None:
        top = DEFAULT_OUT_TOP
    plan = functools.partial(_plan, strat, grids, len(bars), n_parts=n_parts, top=top, out=out,
                             max_memory=max_memory, memory_limit=memory_limit, config=config, metric=metric)
    est = plan()
    if not calibrate or not est.combinations:
        return est
    small = est.exact and est.combinations <= CALIBRATE_COMBOS + 1
    if small:  # a small grid: all of it
        sample = next(iter_combos(strat, grids, block=CALIBRATE_COMBOS + 1))[0]
    else:  # a seeded uniform sample: the grid's first combinations may be its cheapest or dearest corner
        sample = _draw(strat, grids, 4 * CALIBRATE_COMBOS)[2][:CALIBRATE_COMBOS + 1]
    if not sample:  # the constraints keep too few grid points to draw from: the assumed rate stays
        return est
    prices = prices_from_bars(bars if "volume" in bars else bars.assign(volume=0.0))
    run = functools.partial(_run_block, strat, prices, bars, grids, opts, 0, n_parts=n_parts,
                            bounds=np.linspace(0, len(bars), n_parts + 1).astype(np.int64), chunk=None,
                            progress=False, max_memory=max_memory, axis=time_axis(bars.index), bench=(0.0, 0.0, 0.0))
    run(sample[:1])  # warm-up: a cold numba cache compiles here
    timed = sample[1:] or sample
    # the indicator rows apart: a sample shares fewer of them than a block of the whole grid does
    t0 = time.perf_counter()
    prep = strat.prepare(prices, [split_params(strat, c)[0] for c in timed])
    t_rows = time.perf_counter() - t0
    n_rows = max(prep.ind.shape[0] - 5, 1)
    del prep
    t0 = time.perf_counter()
    run(timed)
    t_all = time.perf_counter() - t0
    return plan(combo_seconds=max(t_all - t_rows, 0.0) / len(timed), row_seconds=t_rows / n_rows,
                rate_source=f"measured on {len(timed)} combinations of this grid{'' if small else ' drawn at random'}")


def given_combinations(strategy: Any, combinations: Sequence[Mapping[str, Any]],
                       fixed: Mapping[str, Any] | None = None) -> tuple[dict[str, list[Any]], list[dict[str, Any]],
                                                                        dict[str, int]]:
    """Return the grid (each parameter's values, in first-seen order), the valid combinations and the count of
    skipped ones per broken constraint, of exactly these parameter sets (each with ``fixed`` and the strategy's
    defaults and default stops filling in the rest), in the given order."""
    strat = get_strategy(strategy)
    defaults = strat.defaults()
    base = {**defaults, **strat.stop_defaults, **(fixed or {})}  # every parameter gets a column
    combos: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    given: list[dict[str, Any]] = []
    for i, c in enumerate(combinations):
        if not isinstance(c, Mapping):
            raise BacktestError(f"combinations[{i}] is a {type(c).__name__}: expected a mapping of parameter "
                                "names to values")
        given.append({**base, **c})
        names, values = _coerced_grid(strat, {k: [v] for k, v in given[-1].items()})  # one combination, coerced
        p = {**defaults, **{k: v[0] for k, v in zip(names, values)}}
        broken = strat.broken_constraint(p)
        if broken is None:
            combos.append(p)
        else:
            skipped[broken] = skipped.get(broken, 0) + 1
    seen = dict.fromkeys(k for g in given for k in g)
    names = [n for n in strat.param_names if n in seen] + [k for k in seen if k not in strat.param_names]
    grids = {n: list(dict.fromkeys(g[n] for g in given if n in g)) for n in names}
    return grids, combos, skipped


def sweep(strategy: Any, bars: pd.DataFrame, *, progress: bool | None = None, n_parts: int = 16,
          chunk: int | None = None, space: str | None = None, max_memory: int = MAX_MEMORY,
          config: Any = None, top: int | None = None, out: str | os.PathLike[str] | None = None,
          metric: str = "sharpe", minimize: bool = False, memory_limit: int | None = None,
          pbo_sample: int = PBO_SAMPLE, combinations: Sequence[Mapping[str, Any]] | None = None,
          runner: Any = None, **kwargs: Any) -> SweepResult:
    """Backtest every combination of parameter grids, fused and in parallel.

    Before anything runs, the memory the sweep will hold is estimated from combinations × bars
    (:func:`estimate_sweep`); above ``memory_limit`` it raises :class:`SweepTooLarge` (one line naming the
    estimate, the limit and ``top=``/``out=``) instead of growing until the OS kills the process.

    Parameters
    ----------
    strategy
        Strategy name or object.
    bars
        Bars DataFrame (open, high, low, close, volume).
    progress
        Show a progress bar (default: when more than 50 million bar-combinations).
    n_parts
        Number of contiguous equal parts of the bars over which per-combination return sums are
        kept (``SweepResult.part_sums``), for the Probability of Backtest Overfitting.
    max_memory
        Bytes the indicator rows that a strategy stores per parameter combination (``rows_per_combo``:
        the pandas level's signals) may take at once: the unique combinations are prepared and run in
        chunks that fit (at least one combination per chunk). Strategies whose rows are per parameter
        value (the library's numba strategies) are prepared once per block of combinations, whatever this
        is. The results of
        ``PandasStrategy.indicator`` count against it too: after each chunk the least recently used
        ones beyond ``max_memory`` bytes are dropped (computed again if a later chunk needs them), so a
        sweep holds about twice ``max_memory`` plus the bars and one chunk's indicators.
    memory_limit
        Bytes the whole sweep may hold (its estimate: result table, PBO part sums, one block's indicator
        rows and Python combinations); None (default): ``config``'s ``[sweep] max_memory`` ("auto": half of
        this machine's memory).
    top
        Keep only the best ``top`` rows by ``metric`` (``minimize``) in ``SweepResult.table`` (best first,
        labelled by their row in the full table), so memory no longer grows with the grid. The PBO part
        sums are then kept for a uniform random sample of ``pbo_sample`` non-ruined combinations (seeded;
        ``SweepResult.part_sample`` says so), not for the kept rows: those were chosen on the whole sample,
        which is not a fair set of PBO candidates.
    out
        Stream every row to this ``.parquet`` (or ``.csv``) file block by block (written atomically: a
        failed sweep leaves no partial file); the returned table holds the best ``top`` rows (10 when
        ``top`` is None), the part sums a sample as for ``top``.
    **kwargs
        Backtest options as in :func:`~peaktrade.backtest.from_signals` (scalars) and parameter
        grids by name: an iterable sweeps it, a scalar fixes it, e.g.
        ``sweep("ma_crossover", bars, fees=0.0026, fast=range(5, 55), slow=range(60, 260, 5))``.
        ``sl_stop``, ``tp_stop`` and ``sl_trail`` may be swept too. Options not given come from
        ``config``'s ``[backtest]`` section (default: the project's config, as for ``run``).
    space
        ``"declared"``: every strategy parameter not given by name takes the values of its declared
        search space (:func:`peaktrade.strategies.search_space`: ``Param.grid()`` with a ``step``, else
        five points from half to twice the default); given ones are fixed (scalar) or swept (iterable).
        None (default): only the given grids, the other parameters at their defaults.
    combinations
        Exactly these parameter sets (dicts), in this order, instead of the product of grids: the table
        has one row per valid set (an optimizer's batch of trials); ``**kwargs`` parameters are then
        fixed scalars for every set. Sets that break a constraint are skipped and counted.
    runner
        Where the blocks run (:mod:`peaktrade.compute`, e.g. on a Dask cluster): called once as
        ``runner(strat, bars, columns=..., options=..., n_parts=..., config=..., total=..., local=...)``, it
        returns a context manager yielding ``run(offset, combos) -> (table, part_sums)``, used in place of the
        in-process block runner ``local``; it shows its own progress. None (default): in process.
    """
    t_start = time.perf_counter()
    given_config, config = config, _loaded(config)
    strat, opts, source, grids = _setup(strategy, bars, kwargs, config, space)
    given: list[dict[str, Any]] | None = None
    if combinations is not None:
        if space is not None:
            raise BacktestError("space='declared' with combinations: expected one of them (the combinations are "
                                "the parameter sets run)")
        grids, given, given_skipped = given_combinations(strat, combinations, grids)
    if out is not None and top is None:
        top = DEFAULT_OUT_TOP
    plan = functools.partial(_plan, strat, grids, len(bars), n_parts=n_parts, top=top, out=out,
                             max_memory=max_memory, memory_limit=memory_limit, config=config, metric=metric,
                             n_given=None if given is None else len(given))
    est = plan(count=False)  # the grid size bounds the combinations: counting is needed only when it does not fit
    if est.memory > est.limit:
        est = plan()
    if est.memory > est.limit:
        raise SweepTooLarge(est.refusal(strat.name), estimate=est)
    prices = prices_from_bars(bars if "volume" in bars else bars.assign(volume=0.0))
    prices.memo_budget = max_memory  # the pandas level's indicator memo keeps at most this between chunks
    axis = time_axis(bars.index)
    bounds = np.linspace(0, len(bars), n_parts + 1).astype(np.int64)
    # the buy-and-hold benchmark of the same bars: one value for every row, and each row's excess
    bench = benchmark_values(prices.close, prices.open[0], init_cash=opts.init_cash, axis=axis)
    # several blocks: one bar over the whole sweep (a block's own bar would restart at every block)
    outer = runner is None and est.combinations > est.block and (progress if progress is not None
                                              else est.combinations * len(bars) > 50_000_000)
    run = functools.partial(_run_block, strat, prices, bars, grids, opts, n_parts=n_parts, bounds=bounds,
                            chunk=chunk, progress=False if outer else progress, max_memory=max_memory,
                            axis=axis, bench=bench)
    keep: _Keep = _KeepAll() if top is None else _KeepTop(top, metric, minimize, pbo_sample, n_parts)
    skipped: dict[str, int] = {}

    def run_all(path: Path | None) -> None:
        writer = None if path is None else _RowWriter(path, csv=Path(str(out)).suffix == ".csv")
        offset = 0
        with _bar(f"sweep {strat.name}", est.combinations, outer) as advance:
            blocks = (iter_combos(strat, grids, block=est.block) if given is None
                      else _blocks_of(given, given_skipped, est.block))
            for combos, skip in blocks:
                for k, v in skip.items():
                    skipped[k] = skipped.get(k, 0) + v
                table, part_sums = run_block(offset, combos)
                if writer is not None:
                    writer.write(table)
                keep.add(table, part_sums)
                offset += len(combos)
                advance(offset)
        if writer is not None:
            writer.close()

    with (contextlib.nullcontext(run) if runner is None else
          runner(strat, bars, columns=list(grids), options=opts.to_dict(stops=False), n_parts=n_parts,
                 config=given_config, total=est.combinations, local=run)) as run_block:
        if out is None:
            run_all(None)
        else:
            atomic_write(out, run_all)
    table, part_sums, sample = keep.result()
    return SweepResult(
        table=table,
        strategy=strat.name,
        grid={k: _grid_values(k, grids[k]) for k in grids},
        n_skipped=sum(skipped.values()),
        skipped_reasons=skipped,
        elapsed=time.perf_counter() - t_start,
        n_bars=len(bars),
        part_sums=part_sums,
        part_bars=np.diff(bounds),
        options=opts.to_dict(),
        options_source=source,
        n_combos=keep.n,
        part_sample=sample,
        path=None if out is None else Path(out),
        estimate=est,
        sharpe_moments=keep.sharpe_moments,
    )


def _loaded(config: Any) -> Any:
    """Return ``config``, or the project's config when None: loaded once for a sweep's options and its limit."""
    if config is None:
        from peaktrade.config import load_config

        return load_config()
    return config


def _setup(strategy: Any, bars: pd.DataFrame, kwargs: dict[str, Any], config: Any,
           space: str | None) -> tuple[Any, Any, str, dict[str, Any]]:
    """Return the strategy, the backtest options (and their source) and the grids of a sweep's keywords."""
    strat = get_strategy(strategy)
    check_bars(bars)
    opts, source = pop_options(kwargs, config, strategy=strat)
    if space not in (None, "declared"):
        raise BacktestError(f"space={space!r} is invalid: expected 'declared' (the strategy's declared search "
                            "space) or None (only the given grids)")
    grids = search_space(strat, kwargs) if space == "declared" else dict(kwargs)
    for k, v in strat.stop_defaults.items():
        grids.setdefault(k, v)
    return strat, opts, source, grids


def _run_block(strat: Any, prices: Any, bars: pd.DataFrame, grids: dict[str, Any], opts: Any, offset: int,
               combos: list[dict[str, Any]], *, n_parts: int, bounds: np.ndarray, chunk: int | None,
               progress: bool | None, max_memory: int, axis: tuple[np.ndarray, float, float],
               bench: tuple[float, float, float]) -> tuple[pd.DataFrame, np.ndarray]:
    """Run one block of combinations; return its table rows (labelled from ``offset``) and part sums.

    ``axis`` is the bars' :func:`~peaktrade.backtest.stats.time_axis`, ``bench`` the buy-and-hold benchmark's
    (return, Sharpe, max drawdown) (:func:`~peaktrade.backtest.stats.benchmark_values`)."""
    n = len(combos)
    index = pd.RangeIndex(offset, offset + n)
    stats = np.empty((n, len(STAT_KEYS) + len(BENCHMARK_KEYS)))
    part_sums = np.zeros((n, n_parts, 2))
    if not n:  # no rows: the parameter columns get the dtype a frame of no records gives them (object)
        return _table(pd.DataFrame([], columns=list(grids), index=index), stats, index), part_sums
    # what the table and the kernel read of the combinations, before ``prepare`` gets them (it may keep or change them)
    params = {k: [c.get(k) for c in combos] for k in grids}
    spar = np.repeat(opts.kernel_params()[None, :], n, axis=0)
    for col, key in ((SP_SL, "sl_stop"), (SP_TP, "tp_stop"), (SP_TRAIL, "sl_trail")):
        # a combination holds a stop only when the grid or the strategy's parameters name it
        vals = params[key] if key in params else [c.get(key) for c in combos] if key in strat.param_names else ()
        if any(v is not None for v in vals):
            spar[:, col] = [stop_distance(key, v) for v in vals]
    sig_params = _signal_params(strat, combos, grids)
    frac = opts.size_fraction(prices, bars.index)
    out = np.full((n, len(STAT_KEYS)), np.nan)
    n_state = max(strat.n_state, 1)
    chunk = chunk or max(64, min(4096, n // 20 or 1))
    show = progress if progress is not None else n * len(bars) > 50_000_000
    groups = _prepare_groups(strat, sig_params, len(bars), max_memory)
    if groups is None:  # rows per parameter value: one prepare, the fused kernel over all combinations
        prep = strat.prepare(prices, sig_params)
        _run_chunks(strat, prep, n_state, spar, frac, axis, bounds, part_sums, out, chunk, show)
    else:
        for idx in groups:
            prep = strat.prepare(prices, [sig_params[i] for i in idx])
            g_out = np.full((len(idx), len(STAT_KEYS)), np.nan)
            g_parts = np.zeros((len(idx), n_parts, 2))
            _run_chunks(strat, prep, n_state, np.ascontiguousarray(spar[idx]), frac, axis, bounds, g_parts,
                        g_out, chunk, show)
            out[idx] = g_out
            part_sums[idx] = g_parts
            del prep
    stats[:, :len(STAT_KEYS)] = out
    stats[:, len(STAT_KEYS):-1] = bench
    np.subtract(out[:, STAT_KEYS.index("total_return")], bench[0], out=stats[:, -1])
    # (no ``columns=``: the dict's order is the grid's, and pandas then builds the frame in half the time)
    params_df = pd.DataFrame(params, index=index)
    return _table(params_df, stats, index), part_sums


def _table(params: pd.DataFrame, stats: np.ndarray, index: pd.RangeIndex) -> pd.DataFrame:
    """Return a block's table: the parameter columns (each one's dtype inferred from its values, as a frame of
    records would), then the stats and benchmark columns from one float array: two frames joined, not a frame
    built one column at a time."""
    return pd.concat([params, pd.DataFrame(stats, index=index, columns=[*STAT_KEYS, *BENCHMARK_KEYS], copy=False)],
                     axis=1)


def _signal_params(strat: Any, combos: list[dict[str, Any]], grids: dict[str, Any]) -> list[dict[str, Any]]:
    """Return each combination's signal parameters (:func:`~peaktrade.backtest.engine.split_params`). A block's
    combinations hold the strategy's parameters and the grid's names: when the grid has no stop, there is
    nothing to split off, and the combinations themselves are given (the block has read them already)."""
    if frozenset(grids).isdisjoint(frozenset(STOP_PARAMS) - frozenset(strat.param_names)):
        return combos
    return [split_params(strat, c)[0] for c in combos]


def _prepare_groups(strat: Any, sig_params: list[dict[str, Any]], n_bars: int,
                    max_memory: int) -> list[np.ndarray] | None:
    """Return the combination indices to prepare together, or None to prepare all at once.

    Only a strategy that stores rows per combination (``rows_per_combo``) is split: its unique signal
    parameter sets go into chunks of ``max_memory`` bytes of rows (twice the rows: building the table
    copies them), and every combination that repeats a set (a swept stop) goes with it.
    """
    per_combo = getattr(strat, "rows_per_combo", 0) * n_bars * 8 * 2
    if not per_combo:
        return None
    names = strat.param_names
    by_key: dict[tuple[Any, ...], list[int]] = {}
    for i, p in enumerate(sig_params):
        by_key.setdefault(tuple(p.get(k) for k in names), []).append(i)
    keys = list(by_key.values())
    size = max(1, max_memory // per_combo)
    if size >= len(keys):
        return [np.arange(len(sig_params))]
    return [np.asarray([i for k in keys[a:a + size] for i in k], dtype=np.int64) for a in range(0, len(keys), size)]


def _hold_tables(ind: np.ndarray, spar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the fast path's tables (``nb.hold_tables_nb``) when some combination can take it (all-in
    long without stops, positive prices), else empty ones (every combination then runs bar by bar)."""
    if nb.any_fast_path_nb(spar) and ind[:4].min() > 0.0:  # (min is NaN, not > 0, when a price is NaN)
        return nb.hold_tables_nb(ind[3])
    return np.zeros((0, nb.PRE_ROWS)), np.zeros((2, 0))


def _run_chunks(strat, prep, n_state, spar, frac, axis, bounds, part_sums, out, chunk, show) -> None:
    n = spar.shape[0]
    tables = _hold_tables(prep.ind, spar)

    def step(a: int, b: int) -> None:
        nb.sweep_nb(strat.signal_nb, prep.ind, prep.cols[a:b], prep.fpar[a:b], n_state, spar[a:b], frac,
                    *axis, BLOCK, numba.get_num_threads(), bounds, part_sums[a:b], out[a:b], *tables)

    if not show:
        step(0, n)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    # progress on stderr: stdout carries only results (``--json`` documents stay parseable)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(f"sweep {strat.name}", total=n)
        for a in range(0, n, chunk):
            b = min(a + chunk, n)
            step(a, b)
            bar.update(task, completed=b)


class _Keep:
    """What a sweep keeps of its blocks (every row, or the best K and a PBO sample)."""

    def __init__(self) -> None:
        self.n = 0
        self.sharpe_moments: tuple[int, float, float] = (0, 0.0, 0.0)

    def add(self, table: pd.DataFrame, part_sums: np.ndarray) -> None:
        self.n += len(table)
        sr = table["sharpe"].to_numpy(dtype=float)
        sr = sr[np.isfinite(sr)]
        c, s1, s2 = self.sharpe_moments
        self.sharpe_moments = (c + len(sr), s1 + float(sr.sum()), s2 + float((sr * sr).sum()))

    def result(self) -> tuple[pd.DataFrame, np.ndarray, str | None]:
        raise NotImplementedError


class _KeepAll(_Keep):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[pd.DataFrame] = []
        self.parts: list[np.ndarray] = []

    def add(self, table: pd.DataFrame, part_sums: np.ndarray) -> None:
        super().add(table, part_sums)
        if len(table) or not self.tables:  # an empty block (all skipped) would turn int columns to object
            self.tables.append(table)
            self.parts.append(part_sums)

    def result(self) -> tuple[pd.DataFrame, np.ndarray, str | None]:
        if len(self.tables) == 1:
            return self.tables[0], self.parts[0], None
        tables, parts = self.tables, self.parts
        self.tables, self.parts = [], []  # let each block go as soon as it is copied
        return pd.concat(tables), np.concatenate(parts), None


class _KeepTop(_Keep):
    """The best ``top`` rows by ``metric`` (ties in table order, as :func:`rank_table`) and the part sums of a
    uniform random sample of the non-ruined combinations: each gets a seeded random key, the smallest keys stay."""

    def __init__(self, top: int, metric: str, minimize: bool, sample: int, n_parts: int) -> None:
        super().__init__()
        self.top, self.metric, self.minimize, self.sample = top, metric, minimize, sample
        self.kept: pd.DataFrame | None = None
        self.keys = np.empty(0)
        self.parts = np.empty((0, n_parts, 2))
        self.n_candidates = 0
        self.rng = np.random.default_rng(PBO_SEED)

    def add(self, table: pd.DataFrame, part_sums: np.ndarray) -> None:
        super().add(table, part_sums)
        if self.kept is not None and not len(table):  # an empty block (all skipped) would turn int columns to object
            return
        both = table if self.kept is None else pd.concat([self.kept, rank_table(table, self.metric,
                                                                                  minimize=self.minimize)])
        self.kept = rank_table(both, self.metric, minimize=self.minimize).head(self.top)
        ok = (table["ruined"] != 1.0).to_numpy() if "ruined" in table else np.ones(len(table), dtype=bool)
        keys = self.rng.random(len(table))[ok]
        self.n_candidates += int(ok.sum())
        keys, parts = np.concatenate([self.keys, keys]), np.concatenate([self.parts, part_sums[ok]])
        if len(keys) > self.sample:
            pick = np.sort(np.argpartition(keys, self.sample - 1)[:self.sample])
            keys, parts = keys[pick], parts[pick]
        self.keys, self.parts = keys, np.ascontiguousarray(parts)

    def result(self) -> tuple[pd.DataFrame, np.ndarray, str | None]:
        assert self.kept is not None  # iter_combos yields at least one block
        what = (f"a random sample of {len(self.keys):,} of {self.n_candidates:,} non-ruined combinations (seed {PBO_SEED})"
                if self.n_candidates > len(self.keys) else f"all {self.n_candidates:,} non-ruined combinations")
        return self.kept, self.parts, what


class _RowWriter:
    """Append blocks of rows to a .parquet (one row group per block) or .csv file."""

    def __init__(self, path: Path, *, csv: bool) -> None:
        self.path, self.csv, self.schema = path, csv, None
        self.writer: Any = None
        self.first = True

    def write(self, table: pd.DataFrame) -> None:
        if self.csv:
            table.to_csv(self.path, mode="w" if self.first else "a", header=self.first, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrow = pa.Table.from_pandas(table, schema=self.schema, preserve_index=False)
            if self.writer is None:
                self.schema = arrow.schema
                self.writer = pq.ParquetWriter(self.path, self.schema)
            self.writer.write_table(arrow)
        self.first = False

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@contextlib.contextmanager
def _bar(title: str, total: int, show: bool) -> Iterator[Any]:
    """Yield ``advance(done)``: a progress bar on stderr (stdout carries only results) when ``show``."""
    if not show:
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(title, total=total)
        yield lambda done: bar.update(task, completed=min(done, total))
