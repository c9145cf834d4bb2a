"""The numba cache directory is chosen so that importing peaktrade never fails or hangs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from peaktrade import _numba_cache as nc


@pytest.fixture
def env(monkeypatch, tmp_path):
    # set, then removed: monkeypatch records the variable, so what ensure_cache_dir() writes into os.environ is
    # undone after the test (a leaked cold cache dir made every later subprocess test compile all the kernels)
    monkeypatch.setenv("NUMBA_CACHE_DIR", "")
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    import numba.core.config as numba_config

    monkeypatch.setattr(numba_config, "CACHE_DIR", numba_config.CACHE_DIR)  # restored after the test
    return monkeypatch


def test_user_dir_kept_when_writable(env, tmp_path):
    env.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert nc.ensure_cache_dir() == str(tmp_path / "mine")


def test_falls_back_to_xdg_when_user_dir_unwritable_and_updates_loaded_numba(env, tmp_path):
    env.setenv("NUMBA_CACHE_DIR", str(tmp_path / "ro"))
    real = nc._writable
    env.setattr(nc, "_writable", lambda d: False if "ro" in d.parts else real(d))
    import numba.core.config as cfg

    chosen = nc.ensure_cache_dir()
    assert chosen == str(tmp_path / "xdg" / "peaktrade" / "numba")
    assert os.environ["NUMBA_CACHE_DIR"] == chosen and cfg.CACHE_DIR == chosen


def test_private_temp_dir_when_nothing_else_writable(env, tmp_path):
    env.setattr(nc.tempfile, "gettempdir", lambda: str(tmp_path))
    real = nc._writable
    env.setattr(nc, "_writable", lambda d: real(d) if str(d).startswith(str(tmp_path / "peaktrade-numba")) else False)
    chosen = Path(nc.ensure_cache_dir())
    assert chosen.parent == tmp_path and stat.S_IMODE(chosen.stat().st_mode) == 0o700


def test_planted_temp_dir_not_used_when_others_can_write_it(env, tmp_path):
    env.setattr(nc.tempfile, "gettempdir", lambda: str(tmp_path))
    planted = tmp_path / f"peaktrade-numba-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)
    got = nc._private_tmp()
    assert got is not None and got != planted and stat.S_IMODE(got.stat().st_mode) == 0o700
