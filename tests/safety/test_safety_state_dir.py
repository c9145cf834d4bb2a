"""Safety state lives in one directory per user, whatever the working directory of the process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from peaktrade.config import Config, ConfigError, default_state_dir, load_config

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_default_state_dir_when_env_varies_then_peaktrade_var_then_xdg_then_home(tmp_path):
    assert default_state_dir({"PEAKTRADE_STATE_DIR": str(tmp_path / "s"), "XDG_STATE_HOME": "/x"}) == tmp_path / "s"
    assert default_state_dir({"XDG_STATE_HOME": str(tmp_path / "xdg"), "HOME": "/h"}) == tmp_path / "xdg" / "peaktrade"
    assert default_state_dir({"XDG_STATE_HOME": "relative", "HOME": str(tmp_path)}) == \
        tmp_path / ".local" / "state" / "peaktrade"
    with pytest.raises(ConfigError, match="PEAKTRADE_STATE_DIR='rel' is invalid: expected an absolute path"):
        default_state_dir({"PEAKTRADE_STATE_DIR": "rel"})


def test_config_when_state_dir_unset_then_resolves_to_the_per_user_dir_not_the_cwd(isolated_state_dir, monkeypatch,
                                                                                   tmp_path):
    monkeypatch.chdir(tmp_path)
    cfg = Config()
    assert cfg.state_dir == isolated_state_dir and cfg.budget_db_path == isolated_state_dir / "testnet_budget.sqlite"


@pytest.mark.parametrize("key, section", [("state_dir", "safety"), ("budget_db", "testnet")])
def test_config_when_state_path_relative_then_one_clear_error_naming_key_and_value(tmp_path, clean_env, key, section):
    path = tmp_path / "c.toml"
    path.write_text(f'[{section}]\n{key} = "runs/state"\n')
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert f"'{section}.{key}'" in msg and "'runs/state'" in msg and "absolute path" in msg and "\n" not in msg


def test_env_override_when_safety_state_dir_given_then_it_wins(tmp_path, clean_env):
    clean_env.setenv("PEAKTRADE__SAFETY__STATE_DIR", str(tmp_path / "over"))
    path = tmp_path / "c.toml"
    path.write_text('[safety]\nstate_dir = "/somewhere/else"\n')
    assert load_config(path).state_dir == tmp_path / "over"


def test_paper_run_when_switch_engaged_from_another_directory_then_no_order_fills(tmp_path):
    """`kill-switch on` in one directory, `paper run` in another: the same user's switch holds."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PEAKTRADE") and k not in ("PEAK_TRADE_CONFIG_PATH", "XDG_STATE_HOME")}
    env |= {"HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(tmp_path / "xdg"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))}
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    cmd = [sys.executable, "-m", "peaktrade.cli.main"]

    def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)

    on = run(a, "kill-switch", "on", "--reason", "stop everything")
    assert on.returncode == 0, on.stderr
    assert (tmp_path / "xdg" / "peaktrade" / "kill_switch.json").is_file() and not (a / "runs").exists()
    r = run(b, "paper", "run", "--strategy", "ma_crossover", "--exchange", "synthetic", "--param", "fast=5",
            "--param", "slow=20", "--replay", "2020-01-05:2020-01-12", "--warmup", "24")
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if "orders / fills / denials" in ln)
    orders, fills, denials = (int(x) for x in line.split()[-5::2])
    assert fills == 0 and orders == 0 and denials > 0, r.stdout
    assert "halted" in r.stdout
