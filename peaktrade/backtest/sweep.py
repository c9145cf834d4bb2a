"""Fused parameter sweeps: indicators once per unique parameter value, then signals, simulation and
metrics per combination inside one parallel numba kernel (``nb.sweep_nb``)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.backtest import nb
from peaktrade.backtest.engine import check_bars, pop_options, split_params
from peaktrade.backtest.enums import SP_SL, SP_TP, SP_TRAIL, STAT_KEYS
from peaktrade.backtest.options import stop_distance
from peaktrade.backtest.stats import annualization, benchmark_stats, buy_and_hold_equity, close_days
from peaktrade.errors import BacktestError
from peaktrade.strategies.base import STOP_PARAMS, prices_from_bars
from peaktrade.strategies.registry import get_strategy, search_space

BLOCK = 1024  # bars per signal block: small enough to stay in L1/L2, large enough to amortize the call
#: Default budget (bytes) of the per-combination indicator rows one ``prepare`` may hold in a sweep
#: (strategies with ``rows_per_combo``, e.g. the pandas level): more combinations are prepared in chunks.
MAX_MEMORY = 512 * 2**20


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


def expand_grid(strategy: Any, grids: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Return the valid combinations of a grid and the count of skipped ones per broken constraint."""
    strat = get_strategy(strategy)
    names = list(grids)
    values = [_grid_values(n, grids[n]) for n in names]
    combos: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    by_name = {p.name: p for p in strat.params}
    unknown = sorted(set(names) - set(by_name) - set(STOP_PARAMS))
    if unknown:
        strat.resolve(dict.fromkeys(unknown, 0))  # raises the standard unknown-parameter error
    # coerce each distinct value once (raises naming the parameter on a bad value)
    coerced = [[by_name[n].coerce(v, strategy=strat.name) if n in by_name else v for v in vals]
               for n, vals in zip(names, values)]
    base = strat.defaults()
    for combo in itertools.product(*coerced):
        p = {**base, **dict(zip(names, combo))}
        broken = strat.broken_constraint(p)
        if broken is not None:
            skipped[broken] = skipped.get(broken, 0) + 1
            continue
        combos.append(p)
    return combos, skipped


def sweep(strategy: Any, bars: pd.DataFrame, *, progress: bool | None = None, n_parts: int = 16,
          chunk: int | None = None, space: str | None = None, max_memory: int = MAX_MEMORY,
          config: Any = None, **kwargs: Any) -> SweepResult:
    """Backtest every combination of parameter grids, fused and in parallel.

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
        value (the library's numba strategies) are prepared once, whatever this is. The results of
        ``PandasStrategy.indicator`` count against it too: after each chunk the least recently used
        ones beyond ``max_memory`` bytes are dropped (computed again if a later chunk needs them), so a
        sweep holds about twice ``max_memory`` plus the bars and one chunk's indicators.
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
    """
    t_start = time.perf_counter()
    strat = get_strategy(strategy)
    check_bars(bars)
    opts, source = pop_options(kwargs, config, strategy=strat)
    if space not in (None, "declared"):
        raise BacktestError(f"space={space!r} is invalid: expected 'declared' (the strategy's declared search "
                            "space) or None (only the given grids)")
    grids = search_space(strat, kwargs) if space == "declared" else dict(kwargs)
    for k, v in strat.stop_defaults.items():
        grids.setdefault(k, v)
    combos, skipped = expand_grid(strat, grids)
    prices = prices_from_bars(bars if "volume" in bars else bars.assign(volume=0.0))
    prices.memo_budget = max_memory  # the pandas level's indicator memo keeps at most this between chunks
    base_sp = opts.kernel_params()
    frac = opts.size_fraction(prices, bars.index)
    ann, years, _ = annualization(bars.index)
    n = len(combos)
    out = np.full((n, len(STAT_KEYS)), np.nan)
    if not (isinstance(n_parts, int) and 1 <= n_parts <= len(bars)):
        raise BacktestError(f"n_parts={n_parts!r} is invalid: expected an int in [1, {len(bars)}]")
    bounds = np.linspace(0, len(bars), n_parts + 1).astype(np.int64)
    part_sums = np.zeros((n, n_parts, 2))
    if not (isinstance(max_memory, int) and not isinstance(max_memory, bool) and max_memory > 0):
        raise BacktestError(f"max_memory={max_memory!r} is invalid: expected a positive int (bytes)")
    if n:
        sig_params = [split_params(strat, c)[0] for c in combos]
        spar = np.repeat(base_sp[None, :], n, axis=0)
        for col, key in ((SP_SL, "sl_stop"), (SP_TP, "tp_stop"), (SP_TRAIL, "sl_trail")):
            vals = [c.get(key) for c in combos]
            if any(v is not None for v in vals):
                spar[:, col] = [stop_distance(key, v) for v in vals]
        spar = np.ascontiguousarray(spar)
        n_state = max(strat.n_state, 1)
        chunk = chunk or max(64, min(4096, n // 20 or 1))
        show = progress if progress is not None else n * len(bars) > 50_000_000
        annual = (close_days(bars.index), ann, years)
        groups = _prepare_groups(strat, sig_params, len(bars), max_memory)
        if groups is None:  # rows per parameter value: one prepare, the fused kernel over all combinations
            prep = strat.prepare(prices, sig_params)
            _run_chunks(strat, prep, n_state, spar, frac, annual, bounds, part_sums, out, chunk, show)
        else:
            for idx in groups:
                prep = strat.prepare(prices, [sig_params[i] for i in idx])
                g_out = np.full((len(idx), len(STAT_KEYS)), np.nan)
                g_parts = np.zeros((len(idx), n_parts, 2))
                _run_chunks(strat, prep, n_state, np.ascontiguousarray(spar[idx]), frac, annual, bounds, g_parts,
                            g_out, chunk, show)
                out[idx] = g_out
                part_sums[idx] = g_parts
                del prep
    params_df = pd.DataFrame([{k: c.get(k) for k in grids} for c in combos], columns=list(grids))
    table = pd.concat([params_df, pd.DataFrame(out, columns=list(STAT_KEYS))], axis=1)
    # the buy-and-hold benchmark of the same bars: one value for every row, and each row's excess
    bench = benchmark_stats(buy_and_hold_equity(bars, opts.init_cash), init_cash=opts.init_cash, total_return=0.0)
    table = table.assign(benchmark_return=bench["benchmark_return"], benchmark_sharpe=bench["benchmark_sharpe"],
                         benchmark_max_drawdown=bench["benchmark_max_drawdown"],
                         excess_return=table["total_return"] - bench["benchmark_return"])
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
    )


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


def _hold_tables(ind: np.ndarray, spar: np.ndarray, tm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the fast path's tables (``nb.hold_tables_nb``) when some combination can take it (all-in
    long without stops, positive prices), else empty ones (every combination then runs bar by bar)."""
    if nb.any_fast_path_nb(spar) and (ind[:4] > 0.0).all():
        return nb.hold_tables_nb(ind[3], tm, nb.SCAN_MAX < ind.shape[1])
    return np.zeros((0, nb.PRE_ROWS)), np.zeros((2, 0, 0)), np.zeros((3, 0, 0))


def _run_chunks(strat, prep, n_state, spar, frac, annual, bounds, part_sums, out, chunk, show) -> None:
    n = spar.shape[0]
    tables = _hold_tables(prep.ind, spar, annual[0])

    def step(a: int, b: int) -> None:
        nb.sweep_nb(strat.signal_nb, prep.ind, prep.cols[a:b], prep.fpar[a:b], n_state, spar[a:b], frac,
                    *annual, BLOCK, bounds, part_sums[a:b], out[a:b], *tables, nb.SCAN_MAX)

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
