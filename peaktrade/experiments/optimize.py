"""Smarter search than a grid: Optuna samplers proposing parameter sets, evaluated in batches by the fused sweep.

:func:`optimize` runs Optuna's ask-and-tell loop: ``study.ask()`` a batch of trials, backtest all of them in
**one** call of :func:`peaktrade.backtest.sweep` (``combinations=``: the fused, parallel kernel), then
``study.tell()`` each its objective values. The study lives in an Optuna RDB storage (by default the SQLite
file ``studies.sqlite`` in the project's data store, ``[data] dir``), so calling again with the same study
name resumes it: the sampler sees every earlier trial and the new trials are added.

Every evaluated trial keeps its whole sweep row (the statistics and the per-part return sums) in the study,
so the result's :attr:`OptimizeResult.trials` table holds **all** trials of the study, earlier calls
included. That count is the ``n_trials`` of the Deflated Sharpe Ratio of the best trial (honest
multiple-testing accounting: resuming a study never resets it), computed by
:func:`~peaktrade.experiments.overfitting.sweep_overfitting` exactly as for a grid sweep.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peaktrade.errors import BacktestError

if TYPE_CHECKING:
    from peaktrade.backtest import SweepResult
    from peaktrade.config import Config

__all__ = ["DIRECTIONS", "SAMPLERS", "OptimizeResult", "optimize", "parse_objective", "search_distributions",
           "space_text", "study_storage"]

#: Samplers by name (Optuna's TPE, NSGA-II and uniform random search).
SAMPLERS = ("tpe", "nsga2", "random")
#: Metrics an objective may name, with the direction that is better. The first objective picks the best trial
#: (whose Deflated Sharpe Ratio is reported), so it must be one to maximize; minimized ones may follow.
DIRECTIONS = {
    "sharpe": "maximize", "sortino": "maximize", "calmar": "maximize", "total_return": "maximize",
    "cagr": "maximize", "excess_return": "maximize", "profit_factor": "maximize", "expectancy": "maximize",
    "win_rate": "maximize", "max_drawdown": "minimize", "volatility": "minimize",
    "max_drawdown_duration": "minimize",
}
#: Trials asked and evaluated per fused sweep call (a batch too large makes TPE less adaptive).
DEFAULT_BATCH = 32
#: File of the studies in the project's data store.
STUDY_FILE = "studies.sqlite"
#: Contiguous parts of the bars per trial kept for the PBO (as a sweep's ``n_parts``).
N_PARTS = 16
_SETUP_ATTR = "peaktrade.setup"
_ROW_ATTR = "peaktrade.row"
_PARTS_KEY = "_part_sums"
_SKIP_ATTR = "peaktrade.skipped"


@dataclass(frozen=True)
class OptimizeResult:
    """Result of :func:`optimize`.

    Attributes
    ----------
    study, storage
        The study's name and its Optuna storage URL (pass both again to resume).
    strategy, sampler, objectives, directions
        What was searched, how, and for what (``directions[i]`` of ``objectives[i]``).
    trials
        Every evaluated trial of the study (earlier calls included) as a sweep result: one table row per
        trial (column ``trial``: Optuna's number, then the parameters, then the statistics), the per-part
        sums for the PBO, the backtest options. ``len(trials.table)`` is :attr:`n_trials`.
    best
        The best trial's row by the first objective (ruined and NaN trials never win).
    pareto
        The rows of the Pareto front of all objectives (one objective: the best row).
    overfitting
        :func:`~peaktrade.experiments.overfitting.sweep_overfitting` of :attr:`trials`: ``dsr`` (with
        ``n_trials`` = every evaluated trial of the study), ``psr``, ``pbo`` ... (empty with fewer than 2 trials).
    n_new, n_resumed, n_skipped
        Trials asked by this call, evaluated trials the study held before it, and trials of this call that
        broke a constraint of the strategy (told to Optuna as failed, never backtested nor counted).
    n_batches, elapsed
        Fused sweep calls of this call and its wall time (s).
    space
        The searched parameters and their ranges as text (``{"fast": "int 10..40", "kind": "sma, ema"}``).
    batch, seed
        As given.
    """

    study: str
    storage: str
    strategy: str
    sampler: str
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    trials: SweepResult = field(repr=False)
    best: pd.Series = field(repr=False)
    pareto: pd.DataFrame = field(repr=False)
    overfitting: pd.Series = field(repr=False)
    n_new: int = 0
    n_resumed: int = 0
    n_skipped: int = 0
    n_batches: int = 0
    elapsed: float = 0.0
    space: dict[str, str] = field(default_factory=dict)
    batch: int = DEFAULT_BATCH
    seed: int | None = None

    @property
    def n_trials(self) -> int:
        """Every evaluated trial of the study: the multiple-testing count of the DSR."""
        return len(self.trials.table)

    @property
    def best_params(self) -> dict[str, Any]:
        """The best trial's parameters by name."""
        return {k: _plain(self.best[k]) for k in self.trials.param_names}

    @property
    def dsr(self) -> float:
        """Deflated Sharpe Ratio of the best trial after :attr:`n_trials` trials (NaN when not computable)."""
        v = self.overfitting.get("dsr", math.nan) if len(self.overfitting) else math.nan
        return float(v) if v is not None else math.nan


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def parse_objective(objective: str | Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the objectives and their directions of ``"sharpe"``, ``"sharpe,max_drawdown"`` or a list of names."""
    names = [n.strip() for n in (objective.split(",") if isinstance(objective, str) else objective)]
    accepted = ", ".join(DIRECTIONS)
    if not names or any(n not in DIRECTIONS for n in names) or len(set(names)) != len(names):
        raise BacktestError(f"objective={objective!r} is invalid: expected one or more distinct metrics, comma "
                            f"separated, of {accepted}")
    if DIRECTIONS[names[0]] != "maximize":
        best = ", ".join(k for k, v in DIRECTIONS.items() if v == "maximize")
        raise BacktestError(f"objective={objective!r} is invalid: the first objective picks the best trial and its "
                            f"Deflated Sharpe Ratio, expected one to maximize ({best}); minimized metrics may follow, "
                            "e.g. sharpe,max_drawdown")
    return tuple(names), tuple(DIRECTIONS[n] for n in names)


def study_storage(config: Config | None = None) -> str:
    """Return the Optuna storage URL of the project's studies: ``sqlite:///<[data] dir>/studies.sqlite``."""
    from peaktrade.config import load_config

    cfg = config if config is not None else load_config()
    return f"sqlite:///{cfg.data_dir / STUDY_FILE}"


def _storage_url(storage: str | Path | None, config: Config) -> str:
    if storage is None:
        url = study_storage(config)
    elif isinstance(storage, Path) or "://" not in str(storage):
        url = f"sqlite:///{Path(storage).expanduser().resolve()}"
    else:
        url = str(storage)
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return url


# -- search space -------------------------------------------------------------------------------------------


def _from_values(name: str, values: list[Any], kind: str) -> Any:
    """A distribution over given values: an evenly spaced numeric list is a range with that step (ordered, so
    TPE can model it); anything else a categorical choice."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    numeric = kind in ("int", "float") and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and len(values) >= 2:
        vals = sorted(set(values))
        steps = np.diff(vals)
        if len(vals) == len(values) and np.allclose(steps, steps[0], rtol=1e-9, atol=0):
            if kind == "int":
                return IntDistribution(int(vals[0]), int(vals[-1]), step=int(round(steps[0])))
            return FloatDistribution(float(vals[0]), float(vals[-1]), step=float(steps[0]))
        if len(vals) == 2:  # two points are evenly spaced by themselves (duplicates removed above)
            return _from_values(name, vals, kind)
    return CategoricalDistribution(list(values))


def search_distributions(strategy: Any, given: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(distributions, fixed)``: the Optuna distribution of each searched parameter, and the fixed ones.

    A parameter given a scalar is fixed; given several values (a list, a range) it is searched over them
    (:func:`_from_values`). The others take the strategy's declared search space (as ``sweep(space="declared")``,
    :func:`~peaktrade.strategies.registry.declared_values`): choices and booleans are categorical, a number with
    a declared ``step`` ranges over ``low..high`` by it, a number without one over the declared points' span
    (half to twice the default), every value in between; a parameter whose declared space is one value is fixed.
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from peaktrade.strategies.base import STOP_PARAMS
    from peaktrade.strategies.registry import declared_values, get_strategy

    strat = get_strategy(strategy)
    by_name = {p.name: p for p in strat.params}
    dists: dict[str, Any] = {}
    fixed: dict[str, Any] = {}
    unknown = sorted(set(given) - set(by_name) - set(STOP_PARAMS))
    if unknown:
        strat.resolve(dict.fromkeys(unknown, 0))  # raises the standard unknown-parameter error
    for name, value in given.items():
        p = by_name.get(name)
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            fixed[name] = p.coerce(value, strategy=strat.name) if p is not None else value
            continue
        vals = [p.coerce(v, strategy=strat.name) if p is not None else float(v) for v in value]
        if not vals:
            raise BacktestError(f"the values of {name!r} are empty: expected at least one value")
        if len(set(vals)) == 1:
            fixed[name] = vals[0]
        else:
            dists[name] = _from_values(name, vals, p.kind if p is not None else "float")
    for p in strat.params:
        if p.name in given:
            continue
        if p.kind in ("choice", "bool"):
            dists[p.name] = CategoricalDistribution(p.grid())
            continue
        vals = declared_values(p)
        if len(vals) < 2:
            fixed[p.name] = vals[0]
        elif p.step is not None:
            dists[p.name] = _from_values(p.name, vals, p.kind)
        elif p.kind == "int":
            dists[p.name] = IntDistribution(int(min(vals)), int(max(vals)))
        else:
            dists[p.name] = FloatDistribution(float(min(vals)), float(max(vals)))
    return dists, fixed


def space_text(dist: Any) -> str:
    """A distribution as a person reads it: ``int 10..40``, ``float 0.5..2 step 0.25``, ``sma, ema``."""
    from optuna.distributions import CategoricalDistribution

    if isinstance(dist, CategoricalDistribution):
        return ", ".join(str(c) for c in dist.choices)
    kind = "float" if type(dist).__name__.startswith("Float") else "int"
    step = f" step {dist.step:g}" if dist.step not in (None, 1) or (kind == "float" and dist.step is not None) else ""
    return f"{kind} {dist.low:g}..{dist.high:g}{step}"


# -- the study ----------------------------------------------------------------------------------------------


def _sampler(name: str, seed: int | None) -> Any:
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna logs every told trial at INFO: the caller prints its own summary."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _rdb_storage(url: str) -> Any:
    """The Optuna RDB storage at ``url``; a SQLite file in WAL mode with ``synchronous=NORMAL`` (a commit per
    trial without an fsync each: durable across a crash of the process, which is what resuming needs)."""
    import optuna

    if not url.startswith("sqlite:///"):
        return optuna.storages.RDBStorage(url)
    import sqlite3

    path = url[len("sqlite:///"):]

    def connect() -> sqlite3.Connection:
        con = sqlite3.connect(path, timeout=60.0, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        return con

    return optuna.storages.RDBStorage(url, engine_kwargs={"creator": connect})


def _open_study(name: str, url: str, directions: tuple[str, ...], setup: dict[str, Any]) -> Any:
    """Create the study, or load it and check it was run with the same setup (else its trials would mix)."""
    import json

    import optuna

    from peaktrade._files import dumps

    storage = _rdb_storage(url)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        study = optuna.create_study(study_name=name, storage=storage, directions=list(directions))
        study.set_user_attr(_SETUP_ATTR, setup)
        return study
    stored = study.user_attrs.get(_SETUP_ATTR)
    if stored is None:
        raise BacktestError(f"study {name!r} in {url} was not made by peaktrade optimize: expected another study name")
    now = json.loads(dumps(setup))  # compared as stored: JSON (tuples become lists)
    diff = [k for k in sorted(set(now) | set(stored)) if now.get(k) != stored.get(k)]
    if diff:
        what = "; ".join(f"{k}: stored {stored.get(k)!r}, now {now.get(k)!r}" for k in diff)
        raise BacktestError(f"study {name!r} was run with another setup ({what}): expected the same strategy, "
                            "objectives, bars, backtest options and search space to resume it; use another study "
                            "name for a new search")
    return study


def _trials_result(study: Any, template: SweepResult, names: list[str], fixed: Mapping[str, Any], elapsed: float,
                   n_bars: int, part_bars: np.ndarray) -> SweepResult:
    """Every evaluated trial of the study (stored rows) as one sweep result, in trial order."""
    from dataclasses import replace

    rows, parts, skipped = [], [], {}
    for t in study.get_trials(deepcopy=False):
        if _ROW_ATTR in t.user_attrs:
            params = {**fixed, **t.params}
            row = dict(t.user_attrs[_ROW_ATTR])
            parts.append(row.pop(_PARTS_KEY))
            rows.append({"trial": t.number, **{k: params.get(k) for k in names}, **row})
        elif _SKIP_ATTR in t.user_attrs:
            why = t.user_attrs[_SKIP_ATTR]
            skipped[why] = skipped.get(why, 0) + 1
    stat_cols = [c for c in template.table.columns if c not in template.grid]
    table = pd.DataFrame(rows, columns=["trial", *names, *stat_cols])
    for c in stat_cols:
        table[c] = pd.to_numeric(table[c], errors="coerce").astype(float)
    grid = {k: sorted(table[k].dropna().unique().tolist(), key=str) if table[k].dtype == object
            else sorted(table[k].dropna().unique().tolist()) for k in names}
    grid = {k: v or [None] for k, v in grid.items()}
    ps = np.asarray(parts, dtype=float).reshape(len(rows), len(part_bars), 2)
    return replace(template, table=table, grid=grid, n_skipped=sum(skipped.values()), skipped_reasons=skipped,
                   elapsed=elapsed, n_bars=n_bars, part_sums=ps, part_bars=part_bars)


def optimize(strategy: Any, bars: pd.DataFrame, *, trials: int, sampler: str = "tpe",
             objective: str | Iterable[str] = "sharpe", batch: int = DEFAULT_BATCH, seed: int | None = None,
             study: str | None = None, storage: str | Path | None = None, config: Config | None = None,
             cluster: Any = None, **kwargs: Any) -> OptimizeResult:
    """Search a strategy's parameters with an Optuna sampler, evaluating each batch of trials in one fused sweep.

    Parameters
    ----------
    strategy
        Strategy name or object.
    bars
        Bars DataFrame.
    trials
        Trials to ask in this call (added to the study's earlier ones).
    sampler
        ``"tpe"`` (default), ``"nsga2"`` or ``"random"``.
    objective
        A metric of :data:`DIRECTIONS` or several, comma separated (``"sharpe,max_drawdown"``: multi-objective;
        the directions come from the metrics). The first, one to maximize, picks the best trial.
    batch
        Trials per fused sweep call.
    seed
        Seed of the sampler (each call offsets it by the study's trial count, so a resumed study does not
        replay the same proposals).
    study
        Study name (default ``"<strategy> <objectives> <bars fingerprint>"``); an existing study of that name
        is resumed, provided it was run with the same setup (strategy, objectives, bars, options, space).
    storage
        Optuna storage: a URL or a SQLite file path (default :func:`study_storage`).
    config
        Config for the backtest options not given and the default storage (default: the project's).
    cluster
        Where each batch's fused sweep runs (:func:`peaktrade.compute.backend`; default the config's
        ``[compute]``): distributed, a batch is split into one chunk per worker (not cached: the study's
        storage is what resumes an optimization).
    **kwargs
        Backtest options (as in :func:`~peaktrade.backtest.sweep`) and parameters: a scalar fixes one, several
        values (a list, a range) are searched over, the others take the declared search space
        (:func:`search_distributions`).
    """
    from optuna.distributions import distribution_to_json
    from optuna.trial import TrialState

    from peaktrade import provenance as prov
    from peaktrade.backtest import sweep
    from peaktrade.backtest.engine import pop_options
    from peaktrade.backtest.options import OPTION_NAMES
    from peaktrade.config import load_config
    from peaktrade.experiments.overfitting import sweep_overfitting
    from peaktrade.strategies.base import STOP_PARAMS
    from peaktrade.strategies.registry import get_strategy

    t0 = time.perf_counter()
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise BacktestError(f"trials={trials!r} is invalid: expected an integer >= 1")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise BacktestError(f"batch={batch!r} is invalid: expected an integer >= 1")
    if sampler not in SAMPLERS:
        raise BacktestError(f"sampler={sampler!r} is invalid: expected one of {', '.join(SAMPLERS)}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BacktestError(f"seed={seed!r} is invalid: expected an integer or None")
    objectives, directions = parse_objective(objective)
    cfg = config if config is not None else load_config()
    strat = get_strategy(strategy, config=cfg)
    opt_kw = {k: v for k, v in kwargs.items() if k in OPTION_NAMES and k not in STOP_PARAMS}
    given = {k: v for k, v in kwargs.items() if k not in opt_kw}
    opts, _ = pop_options(dict(opt_kw), cfg, strategy=strat)
    dists, fixed = search_distributions(strat, given)
    if not dists:
        raise BacktestError(f"nothing to search: every parameter of {strat.name} is fixed; expected at least one "
                            "with several values")
    fp = prov.bars_fingerprint(bars) or ""
    setup = {"strategy": strat.name, "objectives": list(objectives), "bars": fp, "n_bars": len(bars),
             "options": opts.to_dict(), "fixed": fixed,
             "space": {k: distribution_to_json(d) for k, d in sorted(dists.items())}}
    url = _storage_url(storage, cfg)
    name = study or f"{strat.name} {','.join(objectives)} {fp[:12]}"
    from peaktrade.compute import backend

    with _quiet_optuna(), backend(cluster, config=cfg) as be:
        import optuna

        runner = be.sweep_runner(chunk=-(-batch // be.workers), cache=False)

        stored = _open_study(name, url, directions, setup)
        earlier = stored.get_trials(deepcopy=False)
        n_resumed = sum(_ROW_ATTR in t.user_attrs for t in earlier)
        # the loop asks and tells in memory (the sampler reads every trial at each ask: from SQLite that is
        # most of the time) and each finished batch is written to the storage: an interrupted call keeps them
        st = optuna.create_study(directions=list(directions),
                                 sampler=_sampler(sampler, None if seed is None else seed + len(earlier)))
        st.add_trials(earlier)
        names = list(dict.fromkeys([*(p for p in strat.param_names if p in dists or p in fixed), *dists, *fixed]))
        template = None
        n_skipped = n_batches = 0
        for a in range(0, trials, batch):
            asked = [st.ask(dists) for _ in range(min(batch, trials - a))]
            sets, run = [], []
            for t in asked:
                p = {**fixed, **t.params}
                broken = strat.broken_constraint({**strat.defaults(), **p})
                if broken is not None:  # never backtested: failed to the sampler, not a trial of the DSR
                    t.set_user_attr(_SKIP_ATTR, broken)
                    st.tell(t, state=TrialState.FAIL)
                    n_skipped += 1
                else:
                    sets.append(p)
                    run.append(t)
            if run:
                sw = sweep(strat, bars, config=cfg, n_parts=N_PARTS, combinations=sets, runner=runner,
                           **opt_kw)  # ONE fused call (or one chunk per worker)
                n_batches += 1
                template = template or sw
                stat_cols = [c for c in sw.table.columns if c not in sw.grid]
                for i, t in enumerate(run):
                    row = sw.table.iloc[i]
                    # one attribute per trial (each is a row of the storage): the stats and the per-part sums
                    t.set_user_attr(_ROW_ATTR, {**{c: _json_float(row[c]) for c in stat_cols},
                                                _PARTS_KEY: sw.part_sums[i].tolist()})
                    values = [float(row[o]) for o in objectives]
                    ok = row.get("ruined", 0.0) != 1.0 and all(math.isfinite(v) for v in values)
                    # a ruined or never-trading trial is a failure to the sampler, but it was tried: it stays a row
                    st.tell(t, values if ok else None, state=None if ok else TrialState.FAIL)
            done = st.get_trials(deepcopy=False)
            stored.add_trials([done[t.number] for t in asked])
        if template is None:  # this call evaluated nothing: one empty sweep for the table's columns
            template = sweep(strat, bars, config=cfg, n_parts=N_PARTS, combinations=[], **opt_kw)
        part_bars = np.diff(np.linspace(0, len(bars), N_PARTS + 1).astype(np.int64))
        res = _trials_result(st, template, names, fixed, time.perf_counter() - t0, len(bars), part_bars)
        pareto_numbers = [t.number for t in st.best_trials] if len(objectives) > 1 else []
    from peaktrade.backtest.sweep import rank_table

    table = res.table
    ranked = rank_table(table, objectives[0])
    best = ranked.iloc[0] if len(ranked) else pd.Series(dtype=object)
    pareto = table[table["trial"].isin(pareto_numbers)] if pareto_numbers else ranked.head(1)
    overfitting = pd.Series(dtype=object)
    if len(ranked) and len(table) >= 2:
        overfitting = sweep_overfitting(res, bars, metric=objectives[0])
    return OptimizeResult(study=name, storage=url, strategy=strat.name, sampler=sampler, objectives=objectives,
                          directions=directions, trials=res, best=best, pareto=pareto, overfitting=overfitting,
                          n_new=trials, n_resumed=n_resumed, n_skipped=n_skipped, n_batches=n_batches,
                          elapsed=time.perf_counter() - t0, space={k: space_text(d) for k, d in dists.items()},
                          batch=batch, seed=seed)


def _json_float(v: Any) -> float | None:
    """A stat for the storage's JSON: NaN and infinities as None (read back as NaN)."""
    f = float(v)
    return f if math.isfinite(f) else None
