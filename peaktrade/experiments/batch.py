"""Batch runs of parameterized notebooks with papermill, from experiment specs (TOML).

A spec names a notebook, fixed parameters, the data, and either a grid (the cartesian product of
its lists) or an explicit list of parameter sets::

    name = "btc-ma-sweep"
    notebook = "notebooks/20-sweep.ipynb"
    description = "..."

    [data]                      # passed to the notebook as parameters
    symbol = "BTC/USD"
    timeframe = "1h"
    exchange = "kraken"

    [parameters]                # fixed parameters of every run
    strategy = "ma_crossover"

    grid = { fast = "5:50:5", slow = [60, 80, 100] }   # the notebook's strategy grid

    [grid]                      # one run per combination ...
    fees = [0.001, 0.0026]
    execution = "next_open,close"

    [[runs]]                    # ... or (and) one run per table
    execution = "close"

Grids (the ``[grid]`` table and a notebook's ``grid`` parameter) are written in the grammar of
:mod:`peaktrade.experiments.grid` (``peaktrade sweep --grid`` uses it too): a list, or a string
``START:STOP[:STEP]`` (stop exclusive), ``A,B,C`` or one value; the notebook receives the lists.

Every parameter is checked against the notebook's ``parameters`` cell before anything runs, and
every strategy the runs use passes the lookahead check (:func:`check_lookahead`) before anything
runs: an experiment using a strategy that reads the future is refused, unless the spec says
``allow_lookahead = true`` (top-level key) or the caller passes ``allow_lookahead=True``
(``peaktrade experiment run --allow-lookahead``).
MLflow: one parent run for the batch; under it one run per parameter set holding its parameters,
status, the executed notebook (and, on failure, the failing cell and error); the notebook logs its
own analysis runs (backtest, sweep, walk-forward) under that run through its ``parent_run_id``
parameter.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import itertools
import json
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peaktrade._env import environ_set
from peaktrade.errors import PeakTradeError, a_an
from peaktrade.experiments.grid import parse_grid

if TYPE_CHECKING:
    from peaktrade.config import Config
    from peaktrade.strategies.base import Strategy

#: Parameters every notebook declares and the batch runner sets itself.
RUNNER_PARAMS = ("parent_run_id", "track")


class ExperimentError(PeakTradeError, ValueError):
    """An experiment spec is invalid or does not fit its notebook."""


@dataclass(frozen=True)
class ExperimentSpec:
    """A parsed, validated experiment spec."""

    name: str
    notebook: Path
    description: str
    parameter_sets: tuple[dict[str, Any], ...]
    source: Path
    #: Run even when a strategy fails the lookahead check (spec key ``allow_lookahead = true``).
    allow_lookahead: bool = False


@dataclass
class RunOutcome:
    """What happened to one parameter set."""

    index: int
    parameters: dict[str, Any]
    output: Path
    ok: bool
    seconds: float
    run_id: str | None = None
    error: str | None = None
    failed_cell: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def notebook_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """Return the notebook's declared parameters as papermill infers them (name → type, default, help)."""
    import papermill

    try:
        return papermill.inspect_notebook(str(notebook))
    except FileNotFoundError:
        raise ExperimentError(f"notebook not found: {notebook}") from None


def load_spec(path: str | Path, *, root: Path | None = None) -> ExperimentSpec:
    """Read and validate an experiment spec; raise :class:`ExperimentError` naming what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise ExperimentError(f"experiment spec not found: {p} (expected a TOML file)")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ExperimentError(f"experiment spec {p} is not valid TOML: {e}") from None
    allowed = {"name", "notebook", "description", "data", "parameters", "grid", "runs", "allow_lookahead"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ExperimentError(f"unknown key(s) {', '.join(unknown)} in {p}: expected some of {', '.join(sorted(allowed))}")
    for key in ("name", "notebook"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ExperimentError(f"'{key}' is missing in {p}: expected a non-empty string")
    allow = raw.get("allow_lookahead", False)
    if not isinstance(allow, bool):
        raise ExperimentError(f"'allow_lookahead' in {p} is {allow!r}: expected true or false")
    nb_path = _find_notebook(Path(raw["notebook"]), p, root)
    fixed = {**raw.get("data", {}), **raw.get("parameters", {})}
    grid = _grid(raw.get("grid", {}), f"[grid] of {p}:")
    runs = raw.get("runs", [])
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise ExperimentError(f"'runs' in {p} is invalid: expected an array of tables ([[runs]])")
    sets: list[dict[str, Any]] = []
    if grid:
        names = list(grid)
        sets += [{**fixed, **dict(zip(names, combo))} for combo in itertools.product(*grid.values())]
    sets += [{**fixed, **r} for r in runs]
    if not sets:
        sets = [dict(fixed)]
    for s in sets:  # a notebook's ``grid`` parameter is written in the same grammar: expanded here
        if isinstance(s.get("grid"), dict):
            s["grid"] = _grid(s["grid"], f"grid of {p}:")
    declared = notebook_parameters(nb_path)
    for s in sets:
        bad = sorted(set(s) - set(declared))
        if bad:
            raise ExperimentError(
                f"{p} passes parameter(s) {', '.join(bad)} that {nb_path.name} does not declare "
                f"(it declares: {', '.join(declared)})"
            )
        reserved = sorted(set(s) & set(RUNNER_PARAMS))
        if reserved:
            raise ExperimentError(f"{p} sets {', '.join(reserved)}: these are set by the batch runner")
        for key, value in s.items():
            _check_type(p, nb_path, key, value, declared[key].get("inferred_type_name", ""))
    return ExperimentSpec(raw["name"], nb_path, raw.get("description", ""), tuple(sets), p, allow)


def _find_notebook(notebook: Path, spec: Path, root: Path | None) -> Path:
    """The spec's notebook: as given when absolute, else beside the spec first, then under the project root:
    the spec's parent's parent (specs live in ``<project>/experiments/``), then ``root`` (the config's)."""
    if notebook.is_absolute():
        places = [notebook]
    else:
        here = spec.resolve().parent
        places = list(dict.fromkeys(d / notebook for d in (here, here.parent, *([root] if root else []))))
    for place in places:
        if place.is_file():
            return place
    raise ExperimentError(f"notebook {str(notebook)!r} of {spec} not found: looked at {' and '.join(map(str, places))}")


#: Python types of the annotations papermill reports for a parameters cell (``fees: float = 0.001``).
_DECLARED_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (float, int), "bool": (bool,), "dict": (dict,), "list": (list,),
}


def _check_type(spec: Path, notebook: Path, key: str, value: Any, declared: str) -> None:
    """Refuse a value whose type is not the one the notebook's parameters cell declares for ``key``."""
    types = _DECLARED_TYPES.get(declared)
    if types is None or (isinstance(value, types) and (bool in types or not isinstance(value, bool))):
        return  # an unannotated parameter (papermill infers None) is the notebook's to check
    raise ExperimentError(f"{spec}: {key} = {value!r} is invalid: expected {a_an(declared)} "
                              f"({notebook.name} declares {key}: {declared})")


def check_inputs(spec: ExperimentSpec, *, config: Config) -> None:
    """Check what the runs name exists before any runs: every strategy in the registry (with "did you mean")
    and, for stored exchanges, every (exchange, symbol, timeframe) in the store (with the stored symbols)."""
    from peaktrade.data.schema import canonical_symbol
    from peaktrade.data.store import BarStore
    from peaktrade.errors import StrategyError
    from peaktrade.strategies.registry import get_strategy

    declared = notebook_parameters(spec.notebook)
    stored = None
    for s in spec.parameter_sets:
        if "strategy" in s:
            try:
                get_strategy(s["strategy"], config=config)
            except StrategyError as e:
                raise ExperimentError(f"{spec.source}: strategy = {s['strategy']!r} is invalid: {e}") from None
        if "symbol" not in s:
            continue
        ex = s.get("exchange", _default(declared, "exchange") if "exchange" in declared else None) or config.data.exchange
        if ex == "synthetic":  # demo bars are generated for any symbol
            continue
        if stored is None:
            stored = {(m.exchange, m.symbol) for m in BarStore(config.data_dir).datasets()}
        try:
            sym = canonical_symbol(s["symbol"])
        except PeakTradeError as e:
            raise ExperimentError(f"{spec.source}: symbol = {s['symbol']!r} is invalid: {e}") from None
        if (str(ex).lower(), sym) not in stored:
            have = sorted({sy for e, sy in stored if e == str(ex).lower()})
            raise ExperimentError(f"{spec.source}: symbol = {s['symbol']!r} is not in the store for {ex}: stored "
                                  f"symbols: {', '.join(have) or 'none (peaktrade data import / download)'}")


#: The experiments ``peaktrade demo`` runs, in order (paths relative to the project root).
DEMO_SPECS = ("experiments/demo-backtest.toml", "experiments/demo.toml")


def demo_specs(config: Config) -> list[ExperimentSpec]:
    """Return the demo experiments: the project's own spec files when it has them (``config.root``), else
    the ones shipped beside the package (a checkout run from elsewhere)."""
    shipped = Path(__file__).resolve().parents[2]
    return [load_spec(config.root / rel if (config.root / rel).is_file() else shipped / rel) for rel in DEMO_SPECS]


def _grid(grid: Any, what: str) -> dict[str, list[Any]]:
    if not isinstance(grid, dict):
        raise ExperimentError(f"{what} {grid!r} is invalid: expected a table of name = list or range string")
    try:
        return parse_grid(grid, what=what)
    except PeakTradeError as e:
        raise ExperimentError(str(e)) from None


#: The bars the lookahead gate checks strategies on: synthetic and seeded, so that a verdict depends
#: only on the strategy's code, its parameters and the timeframe (what the cache is keyed by).
GATE_BARS = 3000
GATE_SEED = 11
#: Notebook parameters that hold a strategy's parameters (a dict; lists in ``grid`` are swept).
_STRATEGY_KWARGS = ("fixed", "params", "grid")


@dataclass(frozen=True)
class LookaheadVerdict:
    """The lookahead check of one strategy and parameter grid an experiment uses."""

    strategy: str
    params: dict[str, Any]
    passed: bool
    message: str
    cached: bool


def _default(declared: dict[str, Any], name: str) -> Any:
    try:
        return ast.literal_eval(declared[name].get("default", "None"))
    except (ValueError, SyntaxError):
        return None


def strategy_uses(spec: ExperimentSpec) -> list[tuple[str, dict[str, Any], str]]:
    """Return the distinct (strategy, strategy keywords, timeframe) the runs of ``spec`` use, with the
    notebook's defaults for what a run does not set; empty when the notebook takes no ``strategy``."""
    declared = notebook_parameters(spec.notebook)
    if "strategy" not in declared:
        return []
    out: dict[str, tuple[str, dict[str, Any], str]] = {}
    for s in spec.parameter_sets:
        name = s.get("strategy", _default(declared, "strategy"))
        kw: dict[str, Any] = {}
        for key in _STRATEGY_KWARGS:
            if key in declared:
                v = s.get(key, _default(declared, key))
                if isinstance(v, dict):
                    kw.update(_grid(v, f"{key} of {spec.source}:") if key == "grid" else v)
        tf = s.get("timeframe", _default(declared, "timeframe") if "timeframe" in declared else None) or "1h"
        if isinstance(name, str):
            out.setdefault(json.dumps([name, kw, tf], sort_keys=True, default=str), (name, kw, str(tf)))
    return list(out.values())


def check_lookahead(spec: ExperimentSpec, *, config: Config | None = None, allow: bool = False) -> list[LookaheadVerdict]:
    """Run the lookahead check on every strategy (with every parameter combination) ``spec`` uses.

    Verdicts are cached in ``<runs dir>/cache/lookahead/`` keyed by the check's version
    (:data:`~peaktrade.experiments.lookahead.CHECK_VERSION`), the source of the strategy's modules
    (:func:`~peaktrade.experiments.lookahead.strategy_code_hash`), its parameters and the timeframe;
    the bars are :data:`GATE_BARS` synthetic bars (seed :data:`GATE_SEED`) of the run's timeframe.
    A strategy or parameter the library does not know is left to the run, which reports it.

    Raises
    ------
    ExperimentError
        One line naming the strategy, the first offending bar and output, when a strategy fails and
        neither ``allow`` nor the spec's ``allow_lookahead`` is set.
    """
    from peaktrade.errors import BacktestError, StrategyError
    from peaktrade.experiments.lookahead import CHECK_VERSION, strategy_code_hash
    from peaktrade.strategies.registry import get_strategy

    if config is None:
        from peaktrade.config import load_config

        config = load_config()
    cache_dir = config.runs_dir / "cache" / "lookahead"
    verdicts: list[LookaheadVerdict] = []
    for name, kw, tf in strategy_uses(spec):
        try:
            strat = get_strategy(name, config=config)  # the run's config: its [strategies] paths
        except StrategyError:
            continue  # the run fails naming the unknown strategy
        key = hashlib.sha256(json.dumps(
            {"check": CHECK_VERSION, "code": strategy_code_hash(strat), "strategy": name, "params": kw,
             "bars": [GATE_BARS, GATE_SEED, tf]}, sort_keys=True, default=str).encode()).hexdigest()
        path = cache_dir / f"{key}.json"
        verdict = _cached_verdict(path, name, kw)
        if verdict is None:
            try:
                verdict = _check_one(strat, kw, tf)
            except (StrategyError, BacktestError):
                continue  # bad parameters: the run fails naming them
            _write_verdict(path, verdict)
        verdicts.append(verdict)
        if not verdict.passed and not (allow or spec.allow_lookahead):
            raise ExperimentError(
                f"experiment '{spec.name}' refused: lookahead check failed: {verdict.message} (fix the strategy, "
                "or set allow_lookahead = true in the spec or pass --allow-lookahead to run it anyway)")
    return verdicts


def _check_one(strat: Strategy, kw: dict[str, Any], timeframe: str) -> LookaheadVerdict:
    from peaktrade.data.synthetic import synthetic_bars
    from peaktrade.experiments.lookahead import lookahead_check

    bars = synthetic_bars(GATE_BARS, timeframe=timeframe, seed=GATE_SEED)
    rep = lookahead_check(strat, bars, **kw)
    return LookaheadVerdict(strat.name, kw, rep.passed, " ".join(rep.message.split()), False)


def _cached_verdict(path: Path, name: str, kw: dict[str, Any]) -> LookaheadVerdict | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return LookaheadVerdict(name, kw, bool(d["passed"]), str(d["message"]), True)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or unreadable: check again


def _write_verdict(path: Path, v: LookaheadVerdict) -> None:
    from peaktrade._files import atomic_write_json

    try:
        atomic_write_json(path, {"strategy": v.strategy, "passed": v.passed, "message": v.message}, indent=None)
    except OSError:
        pass  # a cache that cannot be written only costs a re-check


def _failure(exc: Exception) -> tuple[str, str | None]:
    """Return (error line, failing cell source) from a papermill execution error."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    return f"{ename}: {evalue}", getattr(exc, "source", None)


def run_experiment(spec: ExperimentSpec, *, config: Config | None = None, parallel: int = 1, out_dir: Path | None = None,
                   kernel: str = "python3", progress: bool = True, timeout: int | None = 1800,
                   track: bool = True, allow_lookahead: bool = False, cluster: Any = None) -> list[RunOutcome]:
    """Execute every parameter set of ``spec`` with papermill; failures are reported, not raised.

    Parameters
    ----------
    parallel
        Notebooks executed at once (each in its own kernel process).
    out_dir
        Where executed notebooks are kept (default ``<reports dir>/experiments/<name>/<timestamp>``).
    track
        Log the batch to MLflow, in the experiment named after the spec (its runs nest under the batch
        run and so land there too); a tracking failure is reported and never stops the batch.
    allow_lookahead
        Run even when a strategy fails the lookahead check (as the spec's ``allow_lookahead``).
    cluster
        Where the runs go (:func:`peaktrade.compute.backend`; default the config's ``[compute]``): in process,
        ``parallel`` at once (threads, each notebook in its own kernel); distributed, each run is a task on the
        cluster (its workers share this project's directory and tracking store) and ``parallel`` is ignored.

    Raises
    ------
    ExperimentError
        Before anything runs, when a strategy fails the lookahead check (see :func:`check_lookahead`).
    """
    from peaktrade.tracking import tracked_run

    if config is None:
        from peaktrade.config import load_config

        config = load_config()
    if not (isinstance(parallel, int) and parallel >= 1):
        raise ExperimentError(f"parallel={parallel!r} is invalid: expected an int >= 1")
    verdicts = check_lookahead(spec, config=config, allow=allow_lookahead)
    lookahead = ("not applicable" if not verdicts else "passed" if all(v.passed for v in verdicts)
                 else "FAILED (allowed)")
    out_dir = out_dir or config.reports_dir / "experiments" / spec.name / time.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(spec.parameter_sets)
    batch_params = {"experiment": spec.name, "notebook": spec.notebook.name, "n_runs": n, "parallel": parallel}
    with _maybe(track, lambda: tracked_run(config=config, experiment=spec.name, run_name=f"batch {spec.name}", params=batch_params,
                                           tags={"peaktrade.kind": "batch", "peaktrade.spec": str(spec.source),
                                                 "peaktrade.lookahead": lookahead})) \
            as parent:
        parent_id = parent.run_id if parent is not None else None
        outcomes: list[RunOutcome] = []
        from peaktrade.compute import backend, shippable_config
        from peaktrade.experiments.kernel import kernel_config_env

        with environ_set(kernel_config_env(config)), _progress(progress, n, spec.name) as bar, \
                backend(cluster, config=config) as be:
            def done(outcome: RunOutcome) -> None:
                outcomes.append(outcome)
                if bar is not None:
                    bar[0].update(bar[1], advance=1)

            if be.distributed:  # each run a task; its worker sets the kernels' config environment itself
                be.map(functools.partial(_run_one_env, spec=spec, out_dir=out_dir, config=shippable_config(config),
                                         parent_id=parent_id,
                                         kernel=kernel, timeout=timeout), list(range(n)),
                       title=f"experiment {spec.name}", on_result=lambda _, o: done(o))
            else:
                with ThreadPoolExecutor(max_workers=parallel) as pool:
                    futures = [pool.submit(_run_one, spec, i, out_dir, config, parent_id, kernel, timeout)
                               for i in range(n)]
                    for f in as_completed(futures):
                        done(f.result())
        outcomes.sort(key=lambda o: o.index)
        if parent is not None:
            parent.log_metrics({"n_ok": sum(o.ok for o in outcomes), "n_failed": sum(not o.ok for o in outcomes)})
    return outcomes


def _run_one_env(i: int, *, spec: ExperimentSpec, out_dir: Path, config: Config, parent_id: str | None, kernel: str,
                 timeout: int | None) -> RunOutcome:
    """:func:`_run_one` as a task on a cluster worker, with the kernels' config environment set there."""
    from peaktrade.experiments.kernel import kernel_config_env

    with environ_set(kernel_config_env(config)):
        return _run_one(spec, i, out_dir, config, parent_id, kernel, timeout)


class _RunFailed(Exception):
    """Raised inside a run's tracking context so that the MLflow run ends FAILED."""


def _run_one(spec: ExperimentSpec, i: int, out_dir: Path, config: Config, parent_id: str | None, kernel: str,
             timeout: int | None) -> RunOutcome:
    import papermill

    from peaktrade.experiments.kernel import QuietKernelManager
    from peaktrade.tracking import tracked_run

    params = dict(spec.parameter_sets[i])
    out = out_dir / f"{spec.notebook.stem}-{i:03d}.ipynb"
    outcome = RunOutcome(i, params, out, False, 0.0)
    try:
        with _maybe(parent_id is not None, lambda: tracked_run(
                config=config, run_name=f"{spec.name} #{i}", params=params, parent_run_id=parent_id,
                tags={"peaktrade.kind": "notebook", "peaktrade.notebook": spec.notebook.name})) as run:
            run_id = run.run_id if run is not None else None
            outcome.run_id = run_id
            runner = {"track": run_id is not None, "parent_run_id": run_id or ""}
            t0 = time.perf_counter()
            try:
                papermill.execute_notebook(str(spec.notebook), str(out), parameters={**params, **runner},
                                           kernel_name=kernel, cwd=str(spec.notebook.parent), progress_bar=False,
                                           log_output=False, execution_timeout=timeout,
                                           kernel_manager_class=QuietKernelManager)  # no kernel noise
                outcome.ok = True
            except Exception as e:  # noqa: BLE001 — one failed run is reported; the batch goes on
                outcome.error, outcome.failed_cell = _failure(e)
            outcome.seconds = time.perf_counter() - t0
            if run is not None:
                if out.exists():
                    run.log_artifact(out, artifact_path="notebook")
                run.log_metrics({"seconds": outcome.seconds})
                if not outcome.ok:
                    run.set_tags({"peaktrade.error": outcome.error or ""})
                    run.log_text(f"{outcome.error}\n\nfailing cell:\n{outcome.failed_cell or '?'}", "failure.txt")
                    raise _RunFailed(outcome.error)
    except _RunFailed:
        pass
    return outcome


class _maybe:
    """``with _maybe(flag, factory) as x``: enter ``factory()`` when ``flag``, else yield None."""

    def __init__(self, flag: bool, factory: Any) -> None:
        self.cm = factory() if flag else None

    def __enter__(self):
        return self.cm.__enter__() if self.cm is not None else None

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc) if self.cm is not None else False


class _NoBar:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def _progress(show: bool, total: int, name: str):
    if not show:
        return _NoBar()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    class _Bar:
        def __enter__(self):
            self.p = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn())
            self.p.__enter__()
            return self.p, self.p.add_task(f"experiment {name}", total=total)

        def __exit__(self, *a):
            return self.p.__exit__(*a)

    return _Bar()
