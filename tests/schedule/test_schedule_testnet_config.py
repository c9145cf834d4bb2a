"""``testnet orchestrate --notebook`` (what a testnet schedule runs) points the notebook's kernel at the config
the command was given: a timer has no ``PEAK_TRADE_CONFIG_PATH``, and a kernel loading another config would
obey another state directory (kill switch), other profiles and another MLflow store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "live"))
from testnet_helpers import write_testnet_config  # noqa: E402


def test_orchestrate_notebook_when_config_option_given_then_kernel_environment_names_that_config(
        cli, tmp_path, clean_env, monkeypatch):
    import papermill

    path = write_testnet_config(tmp_path)
    seen = {}

    def execute_notebook(nb, out, **kw):  # unit test: the kernel's environment is what papermill is started with
        seen["config"] = os.environ.get("PEAK_TRADE_CONFIG_PATH")
        seen["parameters"] = kw["parameters"]
        Path(out).write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks")
    r = cli("--config", str(path), "testnet", "orchestrate", "--profile", "fast", "--notebook")
    assert r.exit_code == 0, r.stderr
    assert seen["config"] == str(path.resolve()) and seen["parameters"]["profile"] == "fast"
    assert "PEAK_TRADE_CONFIG_PATH" not in os.environ  # set for the kernel only
