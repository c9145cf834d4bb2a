"""Typed config: resolution order, environment overrides, validation, secrets, stable hash; CLI basics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_toml

from peaktrade import __version__
from peaktrade.config import MASK, Config, load_config
from peaktrade.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "kraken-key-THIS-MUST-NOT-LEAK"
SECRET_SECRET = "kraken-secret-NOR-THIS"


def project(root: Path, data_dir: str) -> Path:
    """Create a minimal project (pyproject.toml + config/config.toml) at ``root``."""
    write_toml(root / "pyproject.toml", "[project]\nname = 'x'\n")
    write_toml(root / "config" / "config.toml", f'[data]\ndir = "{data_dir}"\n')
    return root


def test_load_when_explicit_path_then_it_wins_over_env_var_and_project(tmp_path, monkeypatch):
    monkeypatch.chdir(project(tmp_path / "proj", "from-project"))
    explicit = write_toml(tmp_path / "a.toml", '[data]\ndir = "from-explicit"\n')
    env_file = write_toml(tmp_path / "b.toml", '[data]\ndir = "from-env"\n')
    cfg = load_config(explicit, env={"PEAK_TRADE_CONFIG_PATH": str(env_file)})
    assert cfg.data.dir == Path("from-explicit") and cfg.source == str(explicit)


def test_load_when_env_var_set_then_it_wins_over_project_config(tmp_path, monkeypatch):
    monkeypatch.chdir(project(tmp_path / "proj", "from-project"))
    env_file = write_toml(tmp_path / "b.toml", '[data]\ndir = "from-env"\n')
    cfg = load_config(env={"PEAK_TRADE_CONFIG_PATH": str(env_file)})
    assert cfg.data.dir == Path("from-env") and cfg.data_dir == tmp_path / "from-env"


def test_load_when_nothing_named_then_uses_project_config_found_upwards(tmp_path, monkeypatch):
    root = project(tmp_path / "proj", "from-project")
    (root / "notebooks").mkdir()
    monkeypatch.chdir(root / "notebooks")
    cfg = load_config(env={})
    assert cfg.data.dir == Path("from-project")
    assert cfg.root == root.resolve() and cfg.data_dir == root.resolve() / "from-project"


def test_strategy_dirs_when_default_or_relative_or_absolute_then_resolved_against_project_root(tmp_path, monkeypatch):
    root = project(tmp_path / "proj", "d")
    (root / "notebooks").mkdir()
    monkeypatch.chdir(root / "notebooks")
    assert load_config(env={}).strategy_dirs == [root.resolve() / "strategies"]
    elsewhere = tmp_path / "shared-strats"
    write_toml(root / "config" / "config.toml", f'[strategies]\npaths = ["mine", "{elsewhere}"]\n')
    assert load_config(env={}).strategy_dirs == [root.resolve() / "mine", elsewhere]
    write_toml(root / "config" / "config.toml", '[strategies]\npaths = "mine"\n')
    with pytest.raises(ConfigError, match=r"strategies\.paths"):
        load_config(env={})


def test_load_when_no_project_and_no_file_then_uses_built_in_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={})
    assert cfg.source == "<defaults>" and cfg.data.gaps == "keep" and cfg.data.exchange == "kraken"


def test_defaults_when_compared_then_equal_the_shipped_config_file():
    shipped = load_config(REPO_ROOT / "config" / "config.toml", env={})
    # Except where the shipped file works out of the box (issue 13 item 8) while the built-in defaults stay
    # fail-closed: the file sets every [risk] limit (small, testnet/live only) and the offline kraken-sim
    # mode; without a file, testnet refuses to start (no limits) and the mode is kraken-validate.
    ours, builtin = shipped.sanitized(), Config().sanitized()
    assert ours["risk"]["applies_to"] == ["testnet", "live"] and not Config().risk.missing_limits() == []
    assert shipped.risk.missing_limits() == [] and ours["testnet"].pop("mode") == "kraken-sim"
    assert builtin["testnet"].pop("mode") == "kraken-validate"
    ours.pop("risk"), builtin.pop("risk")
    assert ours == builtin


def test_load_when_env_overrides_given_then_applied_with_types(tmp_path):
    path = write_toml(tmp_path / "c.toml", '[data]\ndir = "data"\n[backtest]\nfees = 0.002\n')
    cfg = load_config(path, env={"PEAKTRADE__DATA__DIR": "/srv/bars", "PEAKTRADE__BACKTEST__FEES": "0.001",
                                 "PEAKTRADE__DATA__GAPS": "fill"})
    assert cfg.data.dir == Path("/srv/bars") and cfg.data_dir == Path("/srv/bars")
    assert cfg.backtest.fees == 0.001 and cfg.data.gaps == "fill"
    assert cfg.source == f"{path} + environment"


def test_load_when_env_override_is_invalid_then_raises_naming_it(tmp_path):
    path = write_toml(tmp_path / "c.toml", "")
    with pytest.raises(ConfigError, match="PEAKTRADE__DATA is invalid: expected PEAKTRADE__SECTION__KEY"):
        load_config(path, env={"PEAKTRADE__DATA": "x"})
    with pytest.raises(ConfigError, match=r"unknown key 'nosection' in environment override PEAKTRADE__NOSECTION__X"):
        load_config(path, env={"PEAKTRADE__NOSECTION__X": "1"})
    with pytest.raises(ConfigError, match=r"unknown key 'data.colour' \(value 'red'\)"):
        load_config(path, env={"PEAKTRADE__DATA__COLOUR": "red"})
    with pytest.raises(ConfigError, match=r"invalid value for 'backtest.fees': 'lots'"):
        load_config(path, env={"PEAKTRADE__BACKTEST__FEES": "lots"})


def test_load_when_file_has_unknown_key_then_raises_naming_key_value_and_file(tmp_path):
    path = write_toml(tmp_path / "bad.toml", '[data]\ndir = "data"\ncolour = "blue"\n')
    with pytest.raises(ConfigError) as e:
        load_config(path, env={})
    assert "unknown key 'data.colour'" in str(e.value) and "'blue'" in str(e.value) and str(path) in str(e.value)
    with pytest.raises(ConfigError, match=r"unknown key 'extra'"):
        load_config(write_toml(tmp_path / "bad2.toml", "[extra]\nx = 1\n"), env={})


@pytest.mark.parametrize(
    "text, key, value",
    [('[backtest]\nfees = "high"\n', "backtest.fees", "'high'"),
     ("[backtest]\nfees = 1.5\n", "backtest.fees", "1.5"),
     ('[data]\ngaps = "drop"\n', "data.gaps", "'drop'"),
     ("[demo]\nbars = 10\n", "demo.bars", "10"),
     ('[backtest]\nexecution = "instant"\n', "backtest.execution", "'instant'")],
)
def test_load_when_value_has_wrong_type_or_range_then_raises_naming_key_value_and_file(tmp_path, text, key, value):
    path = write_toml(tmp_path / "typed.toml", text)
    with pytest.raises(ConfigError) as e:
        load_config(path, env={})
    msg = str(e.value)
    assert f"invalid value for '{key}': {value}" in msg and str(path) in msg


def test_load_when_file_holds_secrets_then_refuses(tmp_path):
    path = write_toml(tmp_path / "s.toml", '[secrets]\nkraken_api_key = "abc"\n')
    with pytest.raises(ConfigError, match="secrets come only from the environment or .env"):
        load_config(path, env={})


def test_load_when_file_missing_or_not_toml_then_raises_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match=r"broken.toml is not valid TOML"):
        load_config(write_toml(tmp_path / "broken.toml", "[data\n"), env={})


def test_secrets_when_in_env_then_loaded_and_masked_everywhere(tmp_path):
    path = write_toml(tmp_path / "c.toml", "")
    cfg = load_config(path, env={"KRAKEN_API_KEY": SECRET_KEY, "KRAKEN_API_SECRET": SECRET_SECRET})
    assert cfg.secrets.kraken_api_key.get_secret_value() == SECRET_KEY
    out = cfg.sanitized()
    assert out["secrets"] == {"kraken_api_key": MASK, "kraken_api_secret": MASK, "alert_urls": None,
                              "dashboard_token": None}
    for text in (json.dumps(out), repr(cfg), str(cfg), cfg.model_dump_json()):
        assert SECRET_KEY not in text and SECRET_SECRET not in text


def test_secrets_when_in_dotenv_then_loaded_and_env_wins(tmp_path):
    path = write_toml(tmp_path / "c.toml", "")
    (tmp_path / ".env").write_text(
        f"# local secrets\nexport KRAKEN_API_KEY='{SECRET_KEY}'\nKRAKEN_API_SECRET=\"{SECRET_SECRET}\"\n\nJUNK\n"
    )
    cfg = load_config(path, env={})
    assert cfg.secrets.kraken_api_key.get_secret_value() == SECRET_KEY
    assert cfg.secrets.kraken_api_secret.get_secret_value() == SECRET_SECRET
    cfg = load_config(path, env={"KRAKEN_API_KEY": "from-env"})
    assert cfg.secrets.kraken_api_key.get_secret_value() == "from-env"


def test_config_show_when_secrets_set_then_output_is_masked(cfg, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("KRAKEN_API_KEY", SECRET_KEY)
    (tmp_path / ".env").write_text(f"KRAKEN_API_SECRET={SECRET_SECRET}\n")
    r = cli("config", "show")
    assert r.exit_code == 0, r.stderr
    assert SECRET_KEY not in r.stdout + r.stderr and SECRET_SECRET not in r.stdout + r.stderr
    shown = json.loads(r.stdout)
    assert shown["secrets"] == {"kraken_api_key": MASK, "kraken_api_secret": MASK, "alert_urls": None,
                                "dashboard_token": None}
    assert shown["config_hash"] == cfg.config_hash() and shown["data"]["dir"] == str(cfg.data.dir)


def test_config_hash_when_toml_reordered_then_same_and_when_value_changes_then_different(tmp_path):
    a = write_toml(tmp_path / "a.toml", '[data]\ndir = "d"\ngaps = "keep"\n[backtest]\nfees = 0.001\nslippage = 0.0\n')
    b = write_toml(tmp_path / "b.toml", '[backtest]\nslippage = 0.0\nfees = 0.001\n[data]\ngaps = "keep"\ndir = "d"\n')
    c = write_toml(tmp_path / "c.toml", '[data]\ndir = "d"\ngaps = "keep"\n[backtest]\nfees = 0.002\nslippage = 0.0\n')
    ha = load_config(a, env={}).config_hash()
    assert ha == load_config(b, env={}).config_hash()
    assert ha != load_config(c, env={}).config_hash()
    assert ha == load_config(a, env={"KRAKEN_API_KEY": SECRET_KEY}).config_hash()  # secrets do not count
    assert len(ha) == 16 and int(ha, 16) >= 0


def test_cli_help_when_asked_then_lists_command_groups(cli):
    r = cli("--help")
    assert r.exit_code == 0
    for group in ("config", "data", "strategies"):
        assert group in r.stdout


def test_cli_version_when_asked_then_prints_version(cli):
    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"peaktrade {__version__}"


def test_cli_when_config_file_invalid_then_one_line_error_exit_2(cli, tmp_path, clean_env):
    bad = write_toml(tmp_path / "bad.toml", '[data]\ngaps = "[drop]"\n')
    r = cli("--config", str(bad), "config", "show")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "invalid value for 'data.gaps': '[drop]'" in r.stderr


@pytest.mark.parametrize("setting", [None, "logfire"])
def test_import_config_when_models_are_built_then_no_pydantic_plugin_search_and_the_user_setting_is_kept(setting):
    """Building the config models does not search every installed distribution for pydantic plugins (a start-up
    cost of every command); the user's PYDANTIC_DISABLE_PLUGINS is as it was after, and a model of their own
    still gets the search."""
    import os
    import subprocess
    import sys

    code = ("import os, pydantic, pydantic.plugin._loader as loader, peaktrade.config as c\n"
            "c.load_config()\n"
            "searched = loader._plugins is not None\n"
            "class Mine(pydantic.BaseModel):\n    x: int = 1\n"
            "print(searched, os.environ.get('PYDANTIC_DISABLE_PLUGINS'), loader._plugins is not None)")
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if setting is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = setting
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["False", str(setting), "True"]
