"""Reading the store back: recent runs, a run's report, and the MLflow UI command line."""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade import provenance as prov
from peaktrade._env import environ_set
from peaktrade._files import atomic_write
from peaktrade._ids import resolve_prefix
from peaktrade.errors import PeakTradeError
from peaktrade.tracking._runs import TAG_EXCHANGE
from peaktrade.tracking._store import artifact_root, load, open_store, redact_uri, tracking_uri

if TYPE_CHECKING:
    from peaktrade.config import Config

RUN_ID = re.compile(r"^[0-9a-f]{32}$")
#: Metrics shown by :func:`recent_runs` when a run has them (in this order).
KEY_METRICS = ("sharpe", "total_return", "max_drawdown", "n_trades", "oos_sharpe", "oos_total_return",
               "best_sharpe", "n_combinations", "dsr", "pbo", "pbo_null_mean")


def ui_command(config: Config | None = None, *, host: str = "127.0.0.1", port: int = 5000,
               workers: int = 1) -> tuple[list[str], str]:
    """Return the command line that serves the MLflow UI on the project's store, and its URL.

    The command is ``<python> -m mlflow ui --backend-store-uri <uri> --default-artifact-root <dir>
    --host <host> --port <port> --workers <n>`` with the same URI the logging functions use. One
    worker is the default: a local UI has one user, and it starts several times faster.
    """
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise PeakTradeError(f"port={port!r} is invalid: expected an integer in [1, 65535]")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise PeakTradeError(f"workers={workers!r} is invalid: expected an integer >= 1")
    if not host or any(c.isspace() for c in host):
        raise PeakTradeError(f"host={host!r} is invalid: expected a host name or address")
    cfg = load(config)
    uri = tracking_uri(cfg)
    scheme = uri.partition(":")[0].lower()
    if scheme in ("http", "https", "databricks"):
        raise PeakTradeError(f"the tracking URI {redact_uri(uri)} is a tracking server already: open it in a "
                             "browser (unset MLFLOW_TRACKING_URI to serve the project's own store)")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
           "--default-artifact-root", str(artifact_root(cfg)), "--host", host, "--port", str(port),
           "--workers", str(workers)]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return cmd, f"http://{shown}:{port}"


def recent_runs(config: Config | None = None, *, experiment: str | None = None, limit: int = 20) -> pd.DataFrame:
    """Return the most recent runs of an experiment, newest first.

    ``experiment="*"`` takes the runs of every experiment of the store (each spec of `experiment run` has
    its own). Columns: ``run_id``, ``name``, ``status``, ``start`` (UTC), ``kind``, ``parent``,
    ``experiment`` and one column per key metric present (see :data:`KEY_METRICS`).

    Raises
    ------
    PeakTradeError
        When the store does not exist or has no such experiment.
    """
    from peaktrade.backtest.enums import STAT_KEYS  # ``best_trade`` is a stat, not a sweep's best metric

    if not isinstance(limit, int) or limit < 1:
        raise PeakTradeError(f"limit={limit!r} is invalid: expected an integer >= 1")
    cfg = load(config)
    store = open_store(cfg, must_exist=True)
    name = experiment or cfg.tracking.experiment
    if name == "*":
        exps = {e.experiment_id: e.name for e in store.client.search_experiments()}
    else:
        exp = store.client.get_experiment_by_name(name)
        if exp is None:
            names = [e.name for e in store.client.search_experiments()]
            raise PeakTradeError(f"no experiment {name!r} in {redact_uri(store.uri)}: "
                                 f"expected one of {', '.join(names) or '(none)'}")
        exps = {exp.experiment_id: exp.name}
    runs = store.client.search_runs(list(exps), max_results=limit, order_by=["attributes.start_time DESC"])
    rows = []
    for r in runs:
        row: dict[str, Any] = {
            "run_id": r.info.run_id,
            "name": r.info.run_name or "",
            "status": r.info.status,
            "start": pd.Timestamp(r.info.start_time, unit="ms", tz="UTC") if r.info.start_time else pd.NaT,
            "kind": r.data.tags.get(prov.TAG_KIND, ""),
            "parent": r.data.tags.get(prov.TAG_PARENT, ""),
            "experiment": exps.get(r.info.experiment_id, ""),
        }
        row.update({k: r.data.metrics[k] for k in KEY_METRICS if k in r.data.metrics})
        row.update({k: v for k, v in r.data.metrics.items()
                    if k.startswith("best_") and k not in row and k not in STAT_KEYS})
        rows.append(row)
    cols = ["run_id", "name", "status", "start", "kind", "parent", "experiment"]
    df = pd.DataFrame(rows, columns=cols + sorted({k for r in rows for k in r} - set(cols),
                                                   key=lambda k: (KEY_METRICS.index(k) if k in KEY_METRICS else 99, k)))
    return df


def _artifact_exists(client: Any, run_id: str, path: str) -> bool:
    parent, _, name = path.rpartition("/")
    try:
        return any(a.path == path or a.path.rsplit("/", 1)[-1] == name
                   for a in client.list_artifacts(run_id, parent or None))
    except Exception:  # noqa: BLE001  (a missing directory lists as an error on some stores)
        return False


def _all_run_ids(client: Any) -> list[str]:
    """Return the id of every run of the store (all experiments, deleted ones too), page by page."""
    from mlflow.entities import ViewType

    exp_ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    ids: list[str] = []
    token = None
    while exp_ids:
        page = client.search_runs(exp_ids, run_view_type=ViewType.ALL, max_results=50_000, page_token=token)
        ids += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
    return ids


def resolve_run_id(ref: str, *, config: Config | None = None) -> str:
    """Return the MLflow run id that ``ref`` names: a whole id, or a unique prefix of >= 6 characters.

    Raises
    ------
    PeakTradeError
        When the store does not exist, or ``ref`` is too short, matches no run or several (naming them).
    """
    cfg = load(config)
    ref = (ref or "").strip().lower()
    store = open_store(cfg, must_exist=True)
    if RUN_ID.match(ref):
        return ref  # a whole id: looked up by the caller, which says when it does not exist
    if not re.fullmatch(r"[0-9a-f]+", ref):
        raise PeakTradeError(f"run id {ref!r} is invalid: expected hex digits (a whole MLflow run id or a prefix)")
    return resolve_prefix(ref, _all_run_ids(store.client), what="MLflow run", where=f" in {redact_uri(store.uri)}")


def report_name(run_id: str, tags: Mapping[str, str]) -> str:
    """Return the file name of a tracked run's report: its run id, then kind, strategy, symbol, timeframe."""
    from peaktrade.reporting import report_path

    kind = tags.get(prov.TAG_KIND) or "run"
    return report_path(".", kind=kind.replace("_", "-"), run_id=run_id, strategy=tags.get(prov.TAG_STRATEGY),
                       symbol=tags.get(prov.TAG_SYMBOL), timeframe=tags.get(prov.TAG_TIMEFRAME)).name


def report_for_run(run_id: str, *, config: Config | None = None, out: str | Path | None = None) -> Path:
    """Fetch the HTML report of a tracked run, or rebuild it from the run's result artifacts.

    Parameters
    ----------
    run_id
        The MLflow run id, or a unique prefix of it (>= 6 characters, see :func:`resolve_run_id`).
    out
        Output file (default ``<reports dir>/<run id>-<kind>-<strategy>-<symbol>-<timeframe>.html``, see
        :func:`report_name`).

    Raises
    ------
    PeakTradeError
        When the store, the run, or both the report and the result artifacts are missing.
    """
    from peaktrade.reporting import build_report, load_result, provenance_facts, report_title

    cfg = load(config)
    store, run = get_run(run_id, config=cfg)
    run_id = run.info.run_id
    name = report_name(run_id, run.data.tags)
    target = Path(out) if out is not None else cfg.reports_dir / name
    if target.exists() and target.is_dir():
        target = target / name
    target.parent.mkdir(parents=True, exist_ok=True)
    # no download progress bar: it would garble the CLI's one-line output
    with tempfile.TemporaryDirectory(prefix="peaktrade-report-") as tmp, \
            environ_set({"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}):
        if _artifact_exists(store.client, run_id, "report/report.html"):
            local = Path(store.client.download_artifacts(run_id, "report/report.html", tmp))
            from peaktrade.reporting._html import inline_plotlyjs

            # the store keeps one plotly.js per experiment; the fetched copy gets it back inlined
            doc = inline_plotlyjs(local.read_text(encoding="utf-8"))
            return atomic_write(target, lambda part: part.write_text(doc, encoding="utf-8"))
        if _artifact_exists(store.client, run_id, "result/meta.json"):
            local_dir = Path(store.client.download_artifacts(run_id, "result", tmp))
            result = load_result(local_dir)
            tags = run.data.tags
            facts = provenance_facts(tags, before={"run id": run_id, "run name": run.info.run_name},
                                     after={"rebuilt from": "result/ artifacts"})
            title = report_title(result.strategy or "backtest", tags.get(prov.TAG_SYMBOL), tags.get(prov.TAG_TIMEFRAME))
            return build_report(title=title, path=target, result=result, provenance=facts,
                                exchange=result.meta.get("exchange") or tags.get(TAG_EXCHANGE),
                                synthetic=result.meta.get("synthetic"))
    # a notebook run of `experiment run` / `demo`: its notebook wrote the report, named by this run id
    written = sorted(cfg.reports_dir.glob(f"{run_id}-*.html"))
    if written:
        if out is None:
            return written[-1]
        return atomic_write(target, lambda part: part.write_bytes(written[-1].read_bytes()))
    raise PeakTradeError(f"run {run_id} has neither a report/report.html nor result/ artifacts to rebuild one from, "
                         f"and no report named by its id in {cfg.reports_dir}")


#: Where ``peaktrade mlflow ui`` serves by default; links to runs of a local store point there.
DEFAULT_UI = "http://127.0.0.1:5000"


def ui_base(config: Config | None = None) -> str:
    """Return the MLflow UI address for links: the tracking server itself when the tracking URI is
    http(s), else :data:`DEFAULT_UI` (what ``peaktrade mlflow ui`` serves on a local store)."""
    uri = tracking_uri(load(config))
    if uri.partition(":")[0].lower() in ("http", "https"):
        return redact_uri(uri).rstrip("/")
    return DEFAULT_UI


def get_run(ref: str, *, config: Config | None = None) -> tuple[Any, Any]:
    """Return the store and the MLflow run that ``ref`` names (a whole id or a unique prefix, see
    :func:`resolve_run_id`); a run that does not exist is a one-line :class:`PeakTradeError`."""
    cfg = load(config)
    run_id = resolve_run_id(ref, config=cfg)
    store = open_store(cfg, must_exist=True)
    try:
        return store, store.client.get_run(run_id)
    except Exception:  # noqa: BLE001  (MLflow raises its own "not found")
        raise PeakTradeError(f"no run {run_id} in {redact_uri(store.uri)}") from None


def run_url(run_id: str, *, config: Config | None = None, experiment_id: str | None = None) -> str:
    """Return the link that opens the run's page in the MLflow UI:
    ``<ui>/#/experiments/<experiment id>/runs/<run id>`` (``run_id`` may be a unique prefix; the experiment is
    looked up when not given)."""
    cfg = load(config)
    if experiment_id is None or not RUN_ID.match((run_id or "").strip().lower()):
        _, run = get_run(run_id, config=cfg)
        run_id, experiment_id = run.info.run_id, experiment_id or run.info.experiment_id
    return f"{ui_base(cfg)}/#/experiments/{experiment_id}/runs/{run_id}"


def experiment_url(experiment_id: str, *, config: Config | None = None) -> str:
    """Return the link that opens an experiment's run list in the MLflow UI."""
    return f"{ui_base(config)}/#/experiments/{experiment_id}"
