"""Public logging functions: backtests, sweeps, walk-forward results and generic tracked runs.

Every function here is fail-soft: a tracking failure (unreachable or unwritable store, bad URI,
disk full) is logged as a warning on the ``peaktrade.tracking`` logger and the function returns
None; the caller's result is never touched and nothing is raised into the computation. Invalid
*arguments* (a wrong type, an unknown metric) still raise, naming the argument.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peaktrade import provenance as prov
from peaktrade.errors import PeakTradeError, bad_value
from peaktrade.experiments import records
from peaktrade.experiments.overfitting import with_pbo_convention
from peaktrade.experiments.records import plain_value
from peaktrade.tracking._runs import ACTIVE, Run, start_run, warn_failed
from peaktrade.tracking._store import load, redact_uri
from peaktrade.tracking._values import clean_key, grid_text

if TYPE_CHECKING:
    from peaktrade.config import Config

# -- helpers ---------------------------------------------------------------------------------------


def _backtest_params(result: Any) -> dict[str, Any]:
    """Strategy parameters by name, backtest options as ``backtest.<name>``, the data span as ``data.*``."""
    params: dict[str, Any] = {str(k): plain_value(v) for k, v in (getattr(result, "params", None) or {}).items()}
    params.update({f"backtest.{k}": plain_value(v) for k, v in (getattr(result, "options", None) or {}).items()})
    eq = result.equity
    if len(eq):
        params.update({"data.n_bars": len(eq), "data.start": str(eq.index[0]), "data.end": str(eq.index[-1])})
    return params


def _provenance_table(run: Run, **after: Any) -> dict[str, Any]:
    """Facts shown at the top of a tracked report: the run, then its provenance tags, then ``after``."""
    from peaktrade.reporting import provenance_facts

    tags = run.store.client.get_run(run.run_id).data.tags
    return provenance_facts(tags, before={"run id": run.run_id, "experiment": run.experiment,
                                          "tracking URI": redact_uri(run.store.uri)}, after=after)


def _log_backtest_into(run: Run, result: Any, *, report: bool, title: tuple[str | None, ...], symbol: str | None,
                       timeframe: str | None, data_fingerprint: str | None, exchange: str | None) -> None:
    """Log params, stats, result files and (optionally) the HTML report (``title``: its parts) into ``run``."""
    from peaktrade.reporting import build_report, report_title, save_result

    run.log_params(_backtest_params(result))
    run.log_metrics(result.stats())
    with tempfile.TemporaryDirectory(prefix="peaktrade-run-") as tmp:
        root = Path(tmp)
        meta = {"exchange": exchange, "symbol": symbol, "timeframe": timeframe, "data_fingerprint": data_fingerprint,
                "run_id": run.run_id}
        save_result(result, root / "result", meta={k: v for k, v in meta.items() if v is not None})
        run.log_dir(root / "result", "result")
        if report:
            build_report(title=report_title(*title), path=root / "report" / "report.html", result=result,
                         exchange=exchange,
                         provenance=_provenance_table(run, strategy=getattr(result, "strategy", None),
                                                      symbol=symbol, timeframe=timeframe))
            run.log_dir(root / "report", "report")


def _finish(run: Run | None, status: str) -> None:
    if run is None:
        return
    try:
        run.end(status)
    except Exception as e:  # noqa: BLE001
        warn_failed(f"ending run {run.run_id}", e)


def _check_result(result: Any, name: str = "result") -> None:
    if not all(hasattr(result, a) for a in ("equity", "trades", "stats")):
        raise PeakTradeError(f"{name} is a {type(result).__name__}: expected a BacktestResult")


# -- backtest --------------------------------------------------------------------------------------


def log_backtest(
    result: Any,
    *,
    config: Config | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    data_fingerprint: str | None = None,
    extra_tags: Mapping[str, Any] | None = None,
    report: bool = True,
    parent_run_id: str | None = None,
) -> str | None:
    """Log one backtest as an MLflow run and return its run id (None when tracking failed).

    The run gets the strategy parameters and backtest options (``backtest.*``) as params, the
    statistics as metrics (NaN/inf left out and listed in the ``peaktrade.nonfinite_metrics``
    tag), provenance tags (version, git SHA and dirty flag, config hash, data fingerprint,
    strategy, symbol, timeframe, environment) and artifacts: ``result/`` (equity and trades as
    Parquet, stats and metadata as JSON), ``report/report.html`` and ``config/config.json``
    (sanitized).

    Parameters
    ----------
    result
        A :class:`~peaktrade.backtest.BacktestResult`.
    config
        Config (default: loaded); only its sanitized form is logged.
    experiment
        Experiment name (default ``[tracking] experiment``); created when absent.
    run_name
        Run name (default: strategy and parameters).
    symbol, timeframe
        Market of the bars, tagged.
    exchange
        Where the bars come from (``"kraken"``, ``"synthetic"`` for the embedded generated data): tagged
        ``peaktrade.exchange``, kept in ``result/meta.json`` and labelled in the report's header.
    data_fingerprint
        Fingerprint of the bars (default: computed from ``result.bars``).
    extra_tags
        More tags.
    report
        Build and log the HTML report.
    parent_run_id
        Nest the run under this run.
    """
    _check_result(result)
    run: Run | None = None
    try:
        cfg = load(config)
        fp = data_fingerprint or prov.bars_fingerprint(getattr(result, "bars", None))
        strategy = getattr(result, "strategy", None)
        params = getattr(result, "params", None) or {}
        name = run_name or " ".join([strategy or "signals", *(f"{k}={plain_value(v)}" for k, v in params.items()
                                                              if plain_value(v) is not None)])[:200]
        run = start_run(cfg, experiment=experiment, run_name=name, kind="backtest", parent_run_id=parent_run_id,
                        strategy=strategy, symbol=symbol, timeframe=timeframe, data_fingerprint=fp,
                        exchange=exchange, tags=extra_tags)
        _log_backtest_into(run, result, report=report, title=(strategy or "backtest", symbol, timeframe),
                           symbol=symbol, timeframe=timeframe, data_fingerprint=fp, exchange=exchange)
        run.end("FINISHED")
        return run.run_id
    except Exception as e:  # noqa: BLE001  (tracking must never break the computation)
        warn_failed("log_backtest", e)
        _finish(run, "FAILED")
        return None


# -- sweep -----------------------------------------------------------------------------------------


def log_sweep(
    sweep_result: Any,
    *,
    config: Config | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    data_fingerprint: str | None = None,
    top_n: int | None = None,
    metric: str = "sharpe",
    bars: pd.DataFrame | None = None,
    options: Mapping[str, Any] | None = None,
    overfitting: pd.Series | Mapping[str, Any] | None = None,
    extra_tags: Mapping[str, Any] | None = None,
    report: bool = True,
    parent_run_id: str | None = None,
    extra_params: Mapping[str, Any] | None = None,
) -> str | None:
    """Log a sweep as a parent run with one child run per top combination; return the parent run id.

    The parent holds the grid as params (and the best combination as ``best.*``), summary metrics
    (``best_<metric>``, ``n_combinations``, ``n_skipped``, ``n_finite``, ``elapsed_s``,
    ``n_bars`` and the ``overfitting`` values), the full table as ``sweep/table.parquet`` and
    ``sweep/table.csv``, and the HTML report with the parameter heatmap. Each child (tag
    ``peaktrade.rank``) holds its combination's params and stats; with ``bars`` the combination
    is re-run so the child also gets trades and equity artifacts and a report.

    Parameters
    ----------
    sweep_result
        A :class:`~peaktrade.backtest.SweepResult`.
    top_n
        Child runs to log (default ``[tracking] sweep_top_n``; 0 for none).
    metric
        Ranking metric (higher is better).
    bars
        The swept bars; enables child re-runs (and the data fingerprint when not given).
    options
        Backtest options the sweep ran with (default: ``SweepResult.options``): logged as
        ``sim.*`` and used for the re-runs. Each re-run child is tagged
        ``peaktrade.rerun_matches_table`` so a mismatch shows.
    overfitting
        Extra metrics for the parent, e.g. ``pd.Series({"dsr": 0.93, "pbo": 0.12})``.
    extra_params
        More params for the parent (an optimizer's study, sampler and objectives).
    config, experiment, run_name, symbol, timeframe, exchange, data_fingerprint, extra_tags, report, parent_run_id
        As in :func:`log_backtest`.
    """
    if not (hasattr(sweep_result, "table") and hasattr(sweep_result, "grid")):
        raise PeakTradeError(f"sweep_result is a {type(sweep_result).__name__}: expected a SweepResult")
    if metric not in sweep_result.table:
        raise PeakTradeError(bad_value("metric", metric, "a column of the sweep table, e.g. 'sharpe'"))
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, (int, np.integer)) or top_n < 0):
        raise PeakTradeError(bad_value("top_n", top_n, "an integer >= 0"))
    if bars is not None and not isinstance(bars, pd.DataFrame):
        raise PeakTradeError(f"bars is a {type(bars).__name__}: expected a bars DataFrame")
    if overfitting is not None and not isinstance(overfitting, pd.Series):
        overfitting = pd.Series(dict(overfitting), dtype=object)

    sw = sweep_result
    if options is None:
        options = dict(getattr(sw, "options", None) or {}) or None
    parent: Run | None = None
    try:
        cfg = load(config)
        n_top = cfg.tracking.sweep_top_n if top_n is None else int(top_n)
        fp = data_fingerprint or prov.bars_fingerprint(bars)
        opts = records.rerun_options(cfg, options)
        table = sw.table
        parent = start_run(cfg, experiment=experiment, run_name=run_name or f"sweep {sw.strategy}", kind="sweep",
                           parent_run_id=parent_run_id, strategy=sw.strategy, symbol=symbol, timeframe=timeframe,
                           data_fingerprint=fp, exchange=exchange,
                           tags={**(extra_tags or {}), "peaktrade.metric": metric})
        params: dict[str, Any] = {clean_key(k): grid_text(v) for k, v in sw.grid.items()}
        if options is not None:
            params.update({f"backtest.{k}": plain_value(v) for k, v in opts.items()})
        params.update({"metric": metric, "top_n": n_top, **(extra_params or {})})
        from peaktrade.backtest.sweep import rank_table

        finite = table[metric].notna() & np.isfinite(pd.to_numeric(table[metric], errors="coerce"))
        ranked = rank_table(table[finite], metric)  # ruined combinations are never the best nor a top child
        if len(ranked):
            best_id = ranked.index[0]
            params.update({f"best.{k}": v for k, v in records.combination(sw, best_id).items()})
        parent.log_params(params)
        summary = {
            "n_combinations": len(table),
            "n_skipped": getattr(sw, "n_skipped", 0),
            "n_finite": int(finite.sum()),
            "elapsed_s": float(getattr(sw, "elapsed", 0.0)),
            "n_bars": getattr(sw, "n_bars", 0),
        }
        if len(ranked):
            summary[f"best_{metric}"] = float(ranked.iloc[0][metric])
        parent.log_metrics(summary)
        if overfitting is not None:
            # a PBO is logged with its null mean (metric) and its convention (tag)
            overfitting = with_pbo_convention(overfitting, sw)
            texts = ("pbo_convention", "pbo_reading", "dsr_reading")  # one-line statements: tags, not metrics
            parent.log_metrics(overfitting.drop(list(texts), errors="ignore"))
            parent.set_tags({f"peaktrade.{k}": overfitting[k] for k in texts if overfitting.get(k)})
        parent.log_files({
            "table.parquet": table,
            "table.csv": table,
            "summary.json": {**summary, "grid": sw.grid, "skipped_reasons": getattr(sw, "skipped_reasons", {}),
                             "overfitting": None if overfitting is None else overfitting.to_dict()},
        }, "sweep")

        best_result = None
        for rank, row_id in enumerate(ranked.index[:n_top], start=1):
            res = _log_sweep_child(cfg, parent, sw, row_id, table.loc[row_id], rank, metric=metric, bars=bars,
                                   opts=opts, opts_given=options is not None, experiment=experiment,
                                   symbol=symbol, timeframe=timeframe, fp=fp, exchange=exchange, report=report)
            if rank == 1:
                best_result = res
        if report:
            from peaktrade.reporting import build_report, report_title

            with tempfile.TemporaryDirectory(prefix="peaktrade-run-") as tmp:
                path = Path(tmp) / "report.html"
                build_report(title=report_title(f"sweep {sw.strategy}", symbol, timeframe), path=path, sweep=sw,
                             exchange=exchange,
                             sweep_metric=metric, overfitting=overfitting, result=best_result,
                             provenance=_provenance_table(parent, strategy=sw.strategy, symbol=symbol,
                                                          timeframe=timeframe),
                             notes=(f"Backtest section: the best combination by {metric}, re-run on the bars."
                                    if best_result is not None else None))
                parent.log_file(path, "report")
        parent.end("FINISHED")
        return parent.run_id
    except Exception as e:  # noqa: BLE001  (tracking must never break the computation)
        warn_failed("log_sweep", e)
        _finish(parent, "FAILED")
        return None


def _log_sweep_child(cfg: Config, parent: Run, sw: Any, row_id: Any, row: pd.Series, rank: int, *,
                     metric: str, bars: pd.DataFrame | None, opts: dict[str, Any], opts_given: bool,
                     experiment: str | None, symbol: str | None, timeframe: str | None, fp: str | None,
                     exchange: str | None, report: bool) -> Any:
    """Log one top combination under the sweep's parent run; return its re-run result (or None)."""
    from peaktrade.backtest import STAT_KEYS

    combo = records.combination(sw, row_id)
    child: Run | None = None
    try:
        name = f"{sw.strategy} #{rank} " + " ".join(f"{k}={v}" for k, v in combo.items() if v is not None)
        child = start_run(cfg, experiment=experiment or parent.experiment, run_name=name[:200], kind="sweep_child",
                          parent_run_id=parent.run_id, strategy=sw.strategy, symbol=symbol, timeframe=timeframe,
                          data_fingerprint=fp, exchange=exchange,
                          tags={"peaktrade.rank": rank, "peaktrade.sweep_row": row_id},
                          log_config=False)
        rerun = None
        if bars is not None:
            try:
                rerun = records.rerun(sw, row_id, bars, options=opts, metric=metric)
            except Exception as e:  # noqa: BLE001  (the child keeps the table's numbers)
                warn_failed(f"re-run of sweep row {row_id}", e)
        if rerun is not None:
            _log_backtest_into(child, rerun.result, report=report, title=(f"{sw.strategy} #{rank}", symbol, timeframe),
                               symbol=symbol, timeframe=timeframe, data_fingerprint=fp, exchange=exchange)
            child.set_tags({"peaktrade.rerun_matches_table": "true" if rerun.matches_table else "false"})
        else:
            sim = {f"backtest.{k}": plain_value(v) for k, v in opts.items()} if opts_given else {}
            child.log_params({**combo, **sim})
            child.log_metrics({k: row[k] for k in STAT_KEYS if k in row})
        child.end("FINISHED")
        return rerun.result if rerun is not None else None
    except Exception as e:  # noqa: BLE001
        warn_failed(f"sweep child #{rank}", e)
        _finish(child, "FAILED")
        return None


# -- walk-forward ----------------------------------------------------------------------------------


def log_walk_forward(
    wf_result: Any,
    *,
    config: Config | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    strategy: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    data_fingerprint: str | None = None,
    params: Mapping[str, Any] | None = None,
    extra_tags: Mapping[str, Any] | None = None,
    report: bool = True,
    parent_run_id: str | None = None,
) -> str | None:
    """Log a walk-forward analysis as one run and return its run id (None when tracking failed).

    Params: the selection metric, the number of folds, ``minimize``, ``anchored``, the optimized
    parameter names, the backtest options (``backtest.*``) and ``params``. Metrics: the stitched
    out-of-sample statistics as ``oos_<stat>``, ``n_skipped_folds``, and every numeric folds column
    as a per-fold series ``fold.<column>`` (step = fold number). Artifacts:
    ``walk_forward/folds.parquet`` and ``.csv``, ``oos_equity.parquet``, ``oos_trades.parquet``,
    ``param_stability.parquet`` and ``.csv``, ``stats.json``, and the report.

    Parameters
    ----------
    wf_result
        A walk-forward result with ``folds`` (DataFrame), ``oos_equity`` (Series), ``stats()``,
        ``param_stability`` (DataFrame) and ``metric``.
    strategy
        Strategy name (default: ``wf_result.strategy`` when present).
    params
        Walk-forward settings to log as params (window lengths, grid, ...).
    config, experiment, run_name, symbol, timeframe, exchange, data_fingerprint, extra_tags, report, parent_run_id
        As in :func:`log_backtest`.
    """
    if not (hasattr(wf_result, "folds") and hasattr(wf_result, "oos_equity")):
        raise PeakTradeError(f"wf_result is a {type(wf_result).__name__}: expected a walk-forward result "
                             "(with folds and oos_equity)")
    run: Run | None = None
    try:
        cfg = load(config)
        strat = strategy or getattr(wf_result, "strategy", None)
        strat = strat if isinstance(strat, str) else getattr(strat, "name", None)
        folds = wf_result.folds
        metric = getattr(wf_result, "metric", None)
        run = start_run(cfg, experiment=experiment, run_name=run_name or f"walk-forward {strat or ''}".strip(),
                        kind="walk_forward", parent_run_id=parent_run_id, strategy=strat, symbol=symbol,
                        timeframe=timeframe, data_fingerprint=data_fingerprint, exchange=exchange, tags=extra_tags)
        p: dict[str, Any] = {"metric": metric, "n_folds": len(folds) if folds is not None else 0}
        for attr in ("minimize", "anchored"):
            if isinstance(getattr(wf_result, attr, None), bool):
                p[attr] = getattr(wf_result, attr)
        if isinstance(getattr(wf_result, "params", None), (list, tuple)):
            p["optimized"] = list(wf_result.params)
        p.update({f"backtest.{k}": plain_value(v) for k, v in (getattr(wf_result, "options", None) or {}).items()})
        p.update(dict(params or {}))
        run.log_params(p)
        stats = wf_result.stats() if callable(getattr(wf_result, "stats", None)) else pd.Series(dtype=float)
        run.log_metrics(stats, prefix="oos_")
        if isinstance(getattr(wf_result, "n_skipped_folds", None), (int, np.integer)):
            run.log_metrics({"n_skipped_folds": wf_result.n_skipped_folds})
        if isinstance(folds, pd.DataFrame):
            numeric = folds.select_dtypes(include="number").drop(columns=["fold"], errors="ignore")
            for step, (_, row) in enumerate(numeric.iterrows()):
                run.log_metrics(row, prefix="fold.", step=step)
        files: dict[str, Any] = {"stats.json": stats.to_dict()}
        if isinstance(folds, pd.DataFrame):
            files.update({"folds.parquet": folds, "folds.csv": folds})
        oos = wf_result.oos_equity
        if isinstance(oos, pd.Series):
            files["oos_equity.parquet"] = oos.rename(oos.name or "equity").to_frame()
        trades = getattr(wf_result, "oos_trades", None)
        if isinstance(trades, pd.DataFrame):
            files["oos_trades.parquet"] = trades
        stab = getattr(wf_result, "param_stability", None)
        if isinstance(stab, pd.DataFrame):
            files.update({"param_stability.parquet": stab, "param_stability.csv": stab})
        run.log_files(files, "walk_forward")
        if report:
            from peaktrade.reporting import build_report, report_title

            with tempfile.TemporaryDirectory(prefix="peaktrade-run-") as tmp:
                path = Path(tmp) / "report.html"
                build_report(title=report_title(f"walk-forward {strat or ''}".strip(), symbol, timeframe), path=path,
                             walk_forward=wf_result, exchange=exchange,
                             provenance=_provenance_table(run, strategy=strat, symbol=symbol, timeframe=timeframe))
                run.log_file(path, "report")
        run.end("FINISHED")
        return run.run_id
    except Exception as e:  # noqa: BLE001  (tracking must never break the computation)
        warn_failed("log_walk_forward", e)
        _finish(run, "FAILED")
        return None


# -- generic runs ----------------------------------------------------------------------------------


class TrackedRun:
    """Handle yielded by :func:`tracked_run`. Every method is fail-soft: a tracking failure logs a
    warning and the notebook goes on. ``run_id`` is None when the run could not be started."""

    def __init__(self, run: Run | None) -> None:
        self._run = run
        self._warned: set[str] = set()

    @property
    def run_id(self) -> str | None:
        """The MLflow run id (None when tracking is unavailable)."""
        return self._run.run_id if self._run is not None else None

    @property
    def url(self) -> str | None:
        """The link that opens this run's page in the MLflow UI (None when tracking is unavailable)."""
        if self._run is None:
            return None
        from peaktrade.tracking._query import run_url

        exp_id = self._run.store.client.get_run(self.run_id).info.experiment_id
        return run_url(self.run_id, config=self._run.config, experiment_id=exp_id)

    @property
    def active(self) -> bool:
        """True when calls reach a tracking store."""
        return self._run is not None

    def _do(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> None:
        if self._run is None:
            return
        try:
            fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001
            if what not in self._warned:
                self._warned.add(what)
                warn_failed(f"{what} of run {self.run_id}", e)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params (values become text; re-logging a param with the same value is a no-op)."""
        self._do("log_params", lambda: self._run.log_params(dict(params)))

    def log_metrics(self, metrics: Mapping[str, Any] | pd.Series, *, step: int | None = None) -> None:
        """Log numeric metrics; NaN/inf are left out and listed in the ``peaktrade.nonfinite_metrics`` tag."""
        self._do("log_metrics", lambda: self._run.log_metrics(metrics, step=step))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags."""
        self._do("set_tags", lambda: self._run.set_tags(dict(tags)))

    def log_artifact(self, path: str | Path, *, artifact_path: str | None = None) -> None:
        """Upload a file or a directory (text files have secrets masked in the uploaded copy)."""
        def go() -> None:
            p = Path(path)
            if p.is_dir():
                with tempfile.TemporaryDirectory(prefix="peaktrade-art-") as tmp:
                    import shutil

                    dst = Path(tmp) / p.name
                    shutil.copytree(p, dst)
                    self._run.log_dir(dst, artifact_path if artifact_path is not None else p.name)
            elif p.is_file():
                self._run.log_file(p, artifact_path)
            else:
                raise FileNotFoundError(f"no such file or directory: {p}")

        self._do("log_artifact", go)

    def log_dataframe(self, df: pd.DataFrame | pd.Series, name: str, *, artifact_path: str | None = "data") -> None:
        """Upload a DataFrame as ``<artifact_path>/<name>`` (.parquet unless name ends in .csv)."""
        fname = name if name.endswith((".parquet", ".csv")) else f"{name}.parquet"
        self._do("log_dataframe", lambda: self._run.log_files({fname: df}, artifact_path))

    def log_text(self, text: str, name: str, *, artifact_path: str | None = None) -> None:
        """Upload text as a file named ``name``."""
        self._do("log_text", lambda: self._run.log_files({name: text}, artifact_path))

    def log_backtest(self, result: Any, **kwargs: Any) -> str | None:
        """Log a backtest as a child run of this run (see :func:`log_backtest`); return its run id."""
        if self._run is None:
            return None
        kwargs.setdefault("config", self._run.config)
        kwargs.setdefault("experiment", self._run.experiment)
        return log_backtest(result, parent_run_id=self.run_id, **kwargs)


@contextmanager
def tracked_run(
    *,
    config: Config | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
    nested: bool = False,
    strategy: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    data_fingerprint: str | None = None,
) -> Iterator[TrackedRun]:
    """Open a run for a notebook or a script and yield its :class:`TrackedRun`.

    The run carries the provenance tags and the sanitized config; it ends FINISHED, or FAILED
    when the body raises (the exception propagates unchanged). When the store is unavailable the
    body still runs with an inactive handle (``run_id`` None) and one warning.

    Parameters
    ----------
    params, tags
        Logged when the run starts.
    parent_run_id
        Nest under this run.
    nested
        Nest under the innermost open :func:`tracked_run` (ignored when ``parent_run_id`` is given).
    strategy, symbol, timeframe, exchange, data_fingerprint
        Provenance tags (``exchange`` as ``peaktrade.exchange``, see :func:`log_backtest`).
    """
    parent = parent_run_id
    if parent is None and nested:
        outer = ACTIVE.get()
        parent = outer.run_id if outer is not None else None
    run: Run | None = None
    try:
        cfg = load(config)
        run = start_run(cfg, experiment=experiment, run_name=run_name, kind="run", parent_run_id=parent,
                        strategy=strategy, symbol=symbol, timeframe=timeframe, data_fingerprint=data_fingerprint,
                        exchange=exchange, tags=tags)
        if params:
            run.log_params(dict(params))
    except Exception as e:  # noqa: BLE001
        warn_failed("tracked_run", e)
        _finish(run, "FAILED")
        run = None
    handle = TrackedRun(run)
    token = ACTIVE.set(handle)
    try:
        yield handle
    except BaseException as exc:
        _finish(run, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    else:
        _finish(run, "FINISHED")
    finally:
        ACTIVE.reset(token)


def artifact_files(run_id: str, *, config: Config | None = None) -> list[str]:
    """Return every artifact path of a run (``run_id``: whole or a unique prefix), recursively, for
    inspection and tests."""
    from peaktrade.tracking._query import get_run

    store, run = get_run(run_id, config=config)
    run_id = run.info.run_id
    out: list[str] = []

    def walk(path: str | None) -> None:
        for info in store.client.list_artifacts(run_id, path):
            if info.is_dir:
                walk(info.path)
            else:
                out.append(info.path)

    walk(None)
    return sorted(out)

