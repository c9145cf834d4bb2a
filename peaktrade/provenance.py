"""Provenance of a run (one place): code version (git SHA, dirty flag), config hash, data fingerprint.

Used by research runs (the MLflow tags of :mod:`peaktrade.tracking`, the facts of reports) and by
trading sessions (the ``code_version`` of a run log) alike, so it imports nothing above the core.
"""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peaktrade.config import Config

UNKNOWN = "unknown"
ENVIRONMENT = "research"

#: Tag names (stable: notebooks and `peaktrade mlflow runs` filter on them).
TAG_VERSION = "peaktrade.version"
TAG_GIT_SHA = "peaktrade.git_sha"
TAG_GIT_DIRTY = "peaktrade.git_dirty"
TAG_CONFIG_HASH = "peaktrade.config_hash"
TAG_FINGERPRINT = "peaktrade.data_fingerprint"
TAG_STRATEGY = "peaktrade.strategy"
#: sha256 (hex) of the strategy's source: its module(s), a user's file included (see tracking.start_run).
TAG_STRATEGY_CODE = "peaktrade.strategy_code_hash"
TAG_SYMBOL = "peaktrade.symbol"
TAG_TIMEFRAME = "peaktrade.timeframe"
TAG_ENVIRONMENT = "peaktrade.environment"
TAG_KIND = "peaktrade.kind"
TAG_NONFINITE = "peaktrade.nonfinite_metrics"
TAG_PARENT = "mlflow.parentRunId"
#: A run made by a scheduled run (``peaktrade schedule run NAME``) carries the schedule's name and the id of
#: that scheduled run: the entry point sets these variables, every process under it (notebook kernels too)
#: inherits them, so the batch, its notebooks and their analyses are all tagged.
TAG_SCHEDULE = "peaktrade.schedule"
TAG_SCHEDULE_RUN = "peaktrade.schedule_run"
SCHEDULE_VAR = "PEAKTRADE_SCHEDULE"
SCHEDULE_RUN_VAR = "PEAKTRADE_SCHEDULE_RUN"


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True, text=True, timeout=10, check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_sha(root: str | os.PathLike[str]) -> str:
    """Return the commit of the repository at ``root``, ``"unknown"`` outside git or on any failure."""
    root = Path(root)
    sha = _git(root, "rev-parse", "--verify", "HEAD") if root.is_dir() else None
    return sha.strip() if sha and sha.strip() else UNKNOWN


def git_info(root: str | os.PathLike[str]) -> dict[str, str]:
    """Return ``{"sha": ..., "dirty": "true" | "false" | "unknown"}`` of the repository at ``root``.

    Without git, outside a repository, or on any git failure both are ``"unknown"``. Dirty means
    tracked files differ from the commit (untracked files do not count).
    """
    sha = git_sha(root)
    if sha == UNKNOWN:
        return {"sha": UNKNOWN, "dirty": UNKNOWN}
    status = _git(Path(root), "status", "--porcelain", "--untracked-files=no")
    dirty = UNKNOWN if status is None else ("true" if status.strip() else "false")
    return {"sha": sha, "dirty": dirty}


def provenance_tags(config: Config, *, kind: str, strategy: str | None = None, symbol: str | None = None,
                    timeframe: str | None = None, data_fingerprint: str | None = None,
                    strategy_code: str | None = None) -> dict[str, str]:
    """Return the provenance tags every peaktrade run carries.

    Parameters
    ----------
    config
        The loaded config (its root is the repository inspected for the git SHA; its hash is tagged).
    kind
        What the run is: ``backtest``, ``sweep``, ``sweep_child``, ``walk_forward``, ``run``.
    strategy, symbol, timeframe
        Tagged when given.
    data_fingerprint
        sha256 of the bars (see :func:`peaktrade.data.schema.fingerprint`); ``"unknown"`` when absent.
    strategy_code
        Hash of the strategy's source (:func:`peaktrade.experiments.lookahead.strategy_code_hash`),
        tagged when given: a run of an edited strategy file, or of an upgraded strategy package, is told
        apart from the one before; a strategy whose code cannot be read gets a unique value.
    """
    from peaktrade import __version__

    git = git_info(config.root)
    tags = {
        TAG_VERSION: __version__,
        TAG_GIT_SHA: git["sha"],
        TAG_GIT_DIRTY: git["dirty"],
        TAG_CONFIG_HASH: config.config_hash(),
        TAG_FINGERPRINT: data_fingerprint or UNKNOWN,
        TAG_ENVIRONMENT: ENVIRONMENT,
        TAG_KIND: kind,
        "mlflow.source.name": "peaktrade",
    }
    if git["sha"] != UNKNOWN:
        tags["mlflow.source.git.commit"] = git["sha"]
    try:
        tags["mlflow.user"] = getpass.getuser()
    except Exception:  # noqa: BLE001  (no user name in some containers)
        pass
    for key, value in ((TAG_STRATEGY, strategy), (TAG_SYMBOL, symbol), (TAG_TIMEFRAME, timeframe),
                       (TAG_STRATEGY_CODE, strategy_code), (TAG_SCHEDULE, os.environ.get(SCHEDULE_VAR) or None),
                       (TAG_SCHEDULE_RUN, os.environ.get(SCHEDULE_RUN_VAR) or None)):
        if value is not None:
            tags[key] = str(value)
    return tags


def bars_fingerprint(bars: Any) -> str | None:
    """Return the fingerprint of a bars frame, or None when it cannot be computed."""
    if bars is None:
        return None
    try:
        from peaktrade.data.schema import fingerprint

        return fingerprint(bars)
    except Exception:  # noqa: BLE001  (provenance is best effort; the run is still logged)
        return None
