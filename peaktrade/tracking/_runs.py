"""The run handle: batched, redacted, fail-soft logging into one MLflow run."""

from __future__ import annotations

import contextvars
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade import provenance as prov
from peaktrade._files import dumps
from peaktrade.tracking._store import Store, local_path, open_store, redact_uri
from peaktrade.tracking._values import MAX_TAG, Redactor, clean_key, param_text, split_metrics

if TYPE_CHECKING:
    from peaktrade.config import Config

logger = logging.getLogger("peaktrade.tracking")

_TEXT_SUFFIXES = (".json", ".csv", ".html", ".txt", ".md", ".yaml", ".yml", ".toml")
_BATCH_PARAMS = 100
_BATCH_METRICS = 1000

#: The innermost open :func:`~peaktrade.tracking.tracked_run` (for ``nested=True``).
ACTIVE: contextvars.ContextVar[Any] = contextvars.ContextVar("peaktrade_tracked_run", default=None)


def warn_failed(what: str, exc: BaseException) -> None:
    """Log that something was not tracked; the caller's computation goes on."""
    logger.warning("peaktrade.tracking: %s was not tracked (%s: %s); the result itself is unaffected",
                   what, type(exc).__name__, exc)


class Run:
    """An open MLflow run: params, metrics, tags and artifacts go through the redactor in batches.

    Methods raise on store errors; the public functions catch and warn.
    """

    def __init__(self, store: Store, run_id: str, config: Config, experiment: str) -> None:
        self.store = store
        self.run_id = run_id
        self.config = config
        self.experiment = experiment
        self.redact = Redactor(config)
        self.nonfinite: dict[str, str] = {}
        self._params: dict[str, str] = {}
        self._dirs: tuple[Path, Path] | bool | None = None

    # -- params, metrics, tags -------------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = {}
        for k, v in params.items():
            key, text = self.redact.key(clean_key(k)), self.redact(param_text(v))
            if self._params.get(key) == text:
                continue  # MLflow rejects re-logging; the same value again is a no-op
            items[key] = text
        batch = [Param(k, v) for k, v in items.items()]
        for i in range(0, len(batch), _BATCH_PARAMS):
            self.store.client.log_batch(self.run_id, params=batch[i:i + _BATCH_PARAMS])
        self._params.update(items)

    def log_metrics(self, metrics: Mapping[str, Any] | pd.Series, *, step: int | None = None,
                    prefix: str = "") -> None:
        from mlflow.entities import Metric

        finite, dropped = split_metrics(metrics, prefix=prefix)
        ts = int(time.time() * 1000)
        batch = [Metric(self.redact.key(k), v, ts, int(step or 0)) for k, v in finite.items()]
        for i in range(0, len(batch), _BATCH_METRICS):
            self.store.client.log_batch(self.run_id, metrics=batch[i:i + _BATCH_METRICS])
        if dropped:
            for k, why in dropped.items():
                self.nonfinite[self.redact.key(k) if step is None else f"{self.redact.key(k)}@{step}"] = why
            text = ";".join(f"{k}={v}" for k, v in sorted(self.nonfinite.items()))
            self.set_tags({prov.TAG_NONFINITE: text[:MAX_TAG]})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(self.redact.key(clean_key(k) if not str(k).startswith("mlflow.") else str(k)),
                        self.redact(str(v))[:MAX_TAG]) for k, v in tags.items()]
        for i in range(0, len(batch), _BATCH_PARAMS):
            self.store.client.log_batch(self.run_id, tags=batch[i:i + _BATCH_PARAMS])

    # -- artifacts --------------------------------------------------------------------------------
    def _scrub(self, path: Path) -> None:
        """Mask secrets in the text files under ``path`` before they are uploaded."""
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for p in files:
            if p.suffix.lower() in _TEXT_SUFFIXES:
                try:
                    text = p.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
                clean = self.redact(text)
                if clean != text:
                    p.write_text(clean, encoding="utf-8")

    def _local_dirs(self) -> tuple[Path, Path] | None:
        """Return (this run's artifact directory, its experiment's directory) when both are local files."""
        if self._dirs is None:
            info = self.store.client.get_run(self.run_id).info
            exp = self.store.client.get_experiment(info.experiment_id)
            run_dir, exp_dir = local_path(info.artifact_uri), local_path(exp.artifact_location)
            self._dirs = (run_dir, exp_dir) if run_dir is not None and exp_dir is not None else False
        return self._dirs or None

    def _share_plotlyjs(self, path: Path, artifact_dir: str | None) -> None:
        """Replace the plotly.js inlined in an HTML file by a reference to one copy per experiment.

        The copy sits in the experiment's artifact directory, beside the run folders; the reference is
        relative, so the report opens offline from the store on disk. Stores whose artifacts are not
        local files (a server, S3) keep the bundle inlined: there is no neighbour to refer to."""
        if path.suffix.lower() not in (".html", ".htm") or path.stat().st_size < 1_000_000:
            return  # a page with plotly.js inlined is > 4 MB; smaller pages are left alone unread
        dirs = self._local_dirs()
        if dirs is None:
            return
        from peaktrade.reporting import _html

        run_dir, exp_dir = dirs
        src = os.path.relpath(exp_dir / _html.plotlyjs_name(), run_dir / (artifact_dir or "")).replace(os.sep, "/")
        doc = path.read_text(encoding="utf-8")
        shared = _html.share_plotlyjs(doc, src)
        if shared is not None:
            _html.write_plotlyjs(exp_dir)
            path.write_text(shared, encoding="utf-8")

    def log_dir(self, local_dir: Path, artifact_path: str | None = None) -> None:
        """Upload every file under ``local_dir`` (text files redacted in place first; HTML files refer
        to one shared plotly.js instead of inlining it)."""
        self._scrub(local_dir)
        for p in local_dir.rglob("*.htm*"):
            rel = p.parent.relative_to(local_dir).as_posix()
            self._share_plotlyjs(p, "/".join(x for x in (artifact_path, rel) if x and x != "."))
        self.store.client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        """Upload one file; a text file is redacted in a temporary copy, the original is untouched."""
        path = Path(path)
        if path.suffix.lower() in _TEXT_SUFFIXES:
            with tempfile.TemporaryDirectory(prefix="peaktrade-art-") as tmp:
                copy = Path(tmp) / path.name
                copy.write_bytes(path.read_bytes())
                self._scrub(copy)
                self._share_plotlyjs(copy, artifact_path)
                self.store.client.log_artifact(self.run_id, str(copy), artifact_path)
            return
        self.store.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_files(self, files: Mapping[str, Any], artifact_path: str | None = None) -> None:
        """Write ``{file name: content}`` (DataFrame → Parquet/CSV by suffix, else JSON or text) and upload."""
        with tempfile.TemporaryDirectory(prefix="peaktrade-art-") as tmp:
            root = Path(tmp)
            for name, content in files.items():
                write_artifact(root / name, content)
            self.log_dir(root, artifact_path)

    def log_config(self) -> None:
        """Upload the sanitized config (secrets masked, tracking URI password masked)."""
        data = self.config.sanitized()
        if isinstance(data.get("tracking"), dict) and "uri" in data["tracking"]:
            data["tracking"]["uri"] = redact_uri(str(data["tracking"]["uri"]))
        data["_root"] = str(self.config.root)
        data["_source"] = str(self.config.source)
        data["_config_hash"] = self.config.config_hash()
        self.log_files({"config.json": data}, "config")

    def end(self, status: str = "FINISHED") -> None:
        self.store.client.set_terminated(self.run_id, status=status)


def write_artifact(path: Path, content: Any) -> None:
    """Write one artifact file; DataFrames by suffix (.parquet or .csv), dicts as JSON, else text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if isinstance(content, pd.Series):
        content = content.to_frame()
    if isinstance(content, pd.DataFrame):
        if suffix == ".csv":
            content.to_csv(path)
        else:
            try:
                content.to_parquet(path)
            except Exception:  # noqa: BLE001  (mixed-type object columns: store them as text)
                obj = content.select_dtypes(include="object").columns
                content.assign(**{c: content[c].map(str) for c in obj}).to_parquet(path)
    elif suffix == ".json" or isinstance(content, (dict, list)):
        # non-finite numbers as strings, as in saved results: an artifact shows what was computed
        path.write_text(dumps(content, non_finite="string", indent=1), encoding="utf-8")
    else:
        path.write_text(str(content), encoding="utf-8")


def strategy_code_tag(config: Config, strategy: Any) -> str | None:
    """Return the hash of the source of ``strategy`` (a name is looked up in ``config``'s project), ``"unknown"``
    when it cannot be computed, None without a strategy."""
    if strategy is None:
        return None
    try:
        from peaktrade.experiments.lookahead import strategy_code_hash
        from peaktrade.strategies.registry import get_strategy

        return strategy_code_hash(get_strategy(strategy, config=config))
    except Exception:  # noqa: BLE001  (provenance is best effort, like the data fingerprint; the run is still logged)
        return prov.UNKNOWN


#: The tag of where a run's bars come from (an exchange, or ``"synthetic"``): reports rebuilt later label it.
TAG_EXCHANGE = "peaktrade.exchange"


def start_run(config: Config, *, experiment: str | None, run_name: str | None, kind: str,
              parent_run_id: str | None = None, strategy: str | None = None, symbol: str | None = None,
              timeframe: str | None = None, data_fingerprint: str | None = None, exchange: str | None = None,
              tags: Mapping[str, Any] | None = None, log_config: bool = True) -> Run:
    """Open the store, get or create the experiment and start a run with the provenance tags
    (``exchange``: where the bars come from, ``"synthetic"`` for the embedded data, as ``peaktrade.exchange``)."""
    store = open_store(config)
    if experiment is None and parent_run_id:
        # a nested run lives in its parent's experiment: a spec's notebooks, a sweep's children and a
        # tracked run's backtests stay together without every caller repeating the experiment name
        exp_id = store.client.get_run(parent_run_id).info.experiment_id
        name = store.client.get_experiment(exp_id).name
    else:
        name = experiment or config.tracking.experiment
        exp_id = store.experiment_id(name)
    all_tags: dict[str, Any] = prov.provenance_tags(config, kind=kind, strategy=strategy, symbol=symbol,
                                                    timeframe=timeframe, data_fingerprint=data_fingerprint,
                                                    strategy_code=strategy_code_tag(config, strategy))
    if exchange is not None:
        all_tags[TAG_EXCHANGE] = exchange
    all_tags.update({str(k): v for k, v in (tags or {}).items()})
    if parent_run_id:
        all_tags[prov.TAG_PARENT] = parent_run_id
    redact = Redactor(config)
    clean_tags = {redact.key(k if k.startswith("mlflow.") else clean_key(k)): redact(str(v))[:MAX_TAG]
                  for k, v in all_tags.items()}
    mlrun = store.client.create_run(exp_id, run_name=redact(run_name) if run_name else None, tags=clean_tags)
    run = Run(store, mlrun.info.run_id, config, name)
    if log_config:
        try:
            run.log_config()
        except BaseException:
            run.end("FAILED")
            raise
    return run


def run_name_default(*parts: Any) -> str:
    """Return a run name from its non-empty parts."""
    return " ".join(str(p) for p in parts if p not in (None, "", {}))

