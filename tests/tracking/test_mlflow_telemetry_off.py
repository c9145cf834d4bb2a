"""MLflow's product telemetry (usage records sent to an outside host) is off in everything peaktrade starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Variables under which MLflow turns telemetry off by itself (CI, pytest): removed so the test means something.
_CI_VARS = ("PYTEST_CURRENT_TEST", "GITHUB_ACTIONS", "CI", "CIRCLECI", "GITLAB_CI", "JENKINS_URL", "TRAVIS",
            "TF_BUILD", "BITBUCKET_BUILD_NUMBER", "CODEBUILD_BUILD_ARN", "BUILDKITE", "TEAMCITY_VERSION",
            "CLOUD_RUN_EXECUTION", "RUNBOT_HOST_URL", "RUNBOT_BUILD_NAME", "RUNBOT_WORKER_ID",
            "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")

_PROBE = """
import os, sys
order = sys.argv[1]
if order == "mlflow-first":
    import mlflow
import peaktrade
if order == "store":
    from peaktrade.tracking import open_store
    open_store()
import mlflow
from mlflow.telemetry.client import get_telemetry_client
import subprocess
child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('MLFLOW_DISABLE_TELEMETRY'))"],
                       capture_output=True, text=True).stdout.strip()
print(get_telemetry_client() is None, os.environ.get("MLFLOW_DISABLE_TELEMETRY"), os.environ.get("DO_NOT_TRACK"),
      child)
"""


def _outside_ci_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CI_VARS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlruns.db'}"
    return env


@pytest.mark.parametrize("order", ["peaktrade-first", "mlflow-first", "store"])
def test_import_when_peaktrade_loaded_then_mlflow_telemetry_client_off_here_and_in_children(tmp_path, order):
    r = subprocess.run([sys.executable, "-c", _PROBE, order], capture_output=True, text=True, cwd=tmp_path,
                       env=_outside_ci_env(tmp_path), timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "true", "true", "true"], r.stdout


def test_control_when_mlflow_alone_outside_ci_then_telemetry_client_would_run(tmp_path):
    """The control: without peaktrade, MLflow here would start its telemetry client (so the test above bites)."""
    code = "import mlflow; from mlflow.telemetry.client import get_telemetry_client; print(get_telemetry_client() is None)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=_outside_ci_env(tmp_path), timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "False", (r.stdout, r.stderr)


def test_mlflow_ui_when_started_then_server_process_gets_telemetry_off(cfg, cli, monkeypatch):
    import peaktrade.cli.mlflow_cmd as mod

    seen = {}

    class FakePopen:  # unit boundary: the real server is not started here
        def __init__(self, cmd, env=None, **kwargs):
            seen["cmd"], seen["env"] = cmd, env

        def wait(self):
            return 0

    monkeypatch.delenv("MLFLOW_DISABLE_TELEMETRY", raising=False)
    monkeypatch.setattr(mod.subprocess, "Popen", FakePopen)
    r = cli("mlflow", "ui", "--port", "5999")
    assert r.exit_code == 0, r.stderr
    assert seen["cmd"][1:4] == ["-m", "mlflow", "ui"]
    assert seen["env"]["MLFLOW_DISABLE_TELEMETRY"] == "true" and seen["env"]["DO_NOT_TRACK"] == "true"
