"""The repository holds code, config and docs: never local state (secrets, MLflow stores, run logs, databases)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Paths a user's machine writes while working; .gitignore keeps them out and so must every commit.
LOCAL_STATE = re.compile(r"(^|/)\.env$|\.(db|sqlite|sqlite3)$|(^|/)(mlruns|mlartifacts)/|^(runs|data|reports)/"
                         r"|(^|/)runs/|\.jsonl$")


def _tracked() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing is tracked")
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_tracked_files_when_listed_then_none_is_local_state():
    tracked = _tracked()
    assert "peaktrade/__init__.py" in tracked  # the listing is real
    assert [p for p in tracked if LOCAL_STATE.search(p)] == []


def test_local_state_pattern_when_given_state_paths_then_matches_each():
    for p in (".env", "mlruns.db", "mlruns/0/meta.yaml", "runs/paper-x/events.jsonl", "data/kraken/BTC.parquet",
              "x/budget.sqlite", "peaktrade/live/runs/writer.py"):
        assert LOCAL_STATE.search(p), p
    assert not LOCAL_STATE.search("peaktrade/live/runlog/writer.py")
