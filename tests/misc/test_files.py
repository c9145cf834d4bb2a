"""peaktrade._files: atomic writes and the explicit non-finite policy of JSON."""

import ast
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import peaktrade
from peaktrade._files import atomic_write, atomic_write_json, dumps, jsonable


def test_jsonable_when_non_finite_null_then_none_and_string_then_parseable():
    v = {"a": float("nan"), "b": np.float64("inf"), "c": -math.inf, "d": 1.5}
    assert jsonable(v) == {"a": None, "b": None, "c": None, "d": 1.5}
    s = jsonable(v, non_finite="string")
    assert s == {"a": "nan", "b": "inf", "c": "-inf", "d": 1.5}
    assert math.isnan(float(s["a"])) and float(s["b"]) == math.inf and float(s["c"]) == -math.inf


def test_jsonable_when_numpy_and_times_then_plain_json():
    v = {"i": np.int64(3), "b": np.bool_(True), "t": pd.Timestamp("2024-01-01"), "arr": np.arange(2),
         "nat": pd.NaT, 1: (1, 2)}
    assert jsonable(v) == {"i": 3, "b": True, "t": "2024-01-01T00:00:00+00:00", "arr": [0, 1],
                           "nat": None, "1": [1, 2]}


def test_dumps_when_bad_policy_then_clear_error():
    with pytest.raises(ValueError, match="non_finite must be"):
        dumps({"x": 1.0}, non_finite="keep")
    assert "NaN" not in dumps({"x": float("nan")}) and json.loads(dumps({"x": float("nan")})) == {"x": None}


def test_atomic_write_when_writer_fails_then_old_file_kept_and_no_temp_left(tmp_path):
    p = tmp_path / "sub" / "state.json"
    atomic_write_json(p, {"v": 1})
    assert json.loads(p.read_text()) == {"v": 1}

    def boom(tmp):
        tmp.write_text("partial")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(p, boom)
    assert json.loads(p.read_text()) == {"v": 1}
    assert sorted(x.name for x in p.parent.iterdir()) == ["state.json"]


# -- one writer, one sanitizer ----------------------------------------------------------------------

_PACKAGE = Path(peaktrade.__file__).resolve().parent


def _calls(tree: ast.AST) -> set[str]:
    """Dotted names of the functions a module calls (``os.replace``, ``tempfile.mkstemp``, ...)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name):
            out.add(f"{node.func.value.id}.{node.func.attr}")
    return out


def _modules() -> dict[str, ast.AST]:
    return {str(p.relative_to(_PACKAGE)): ast.parse(p.read_text(encoding="utf-8"))
            for p in sorted(_PACKAGE.rglob("*.py"))}


def test_files_are_replaced_when_any_module_writes_atomically_then_only_through_peaktrade_files():
    writers = {name for name, tree in _modules().items()
               if _calls(tree) & {"os.replace", "os.rename", "tempfile.mkstemp"}}
    assert writers == {"_files.py"}


def test_json_is_sanitized_when_any_module_needs_it_then_only_by_peaktrade_files():
    sanitizers = {name for name, tree in _modules().items() for node in ast.walk(tree)
                  if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") == "jsonable"}
    assert sanitizers == {"_files.py"}


def test_build_report_when_written_then_readable_like_any_other_file_and_no_temp_left(tmp_path):
    from peaktrade.reporting import build_report

    out = build_report(title="t", path=tmp_path / "r" / "report.html", notes="n")
    assert out.stat().st_mode & 0o777 == 0o644  # the temporary file's 0o600 no longer leaks into reports
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_kill_switch_when_state_written_then_owner_only_sorted_json(tmp_path):
    from peaktrade.safety import KillSwitch

    KillSwitch(tmp_path, "paper").engage("breach")
    (state,) = [p for p in tmp_path.rglob("*.json")]
    assert state.stat().st_mode & 0o777 == 0o600
    data = json.loads(state.read_text(encoding="utf-8"))
    assert list(data) == sorted(data) and data["state"] == "halted"


def test_atomic_write_when_no_mode_given_then_the_umask_decides_like_open(tmp_path):
    import os

    old = os.umask(0o077)
    try:
        private = atomic_write_json(tmp_path / "a.json", {"v": 1})
        with open(tmp_path / "b.txt", "w") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    assert private.stat().st_mode & 0o777 == 0o600 == (tmp_path / "b.txt").stat().st_mode & 0o777
    assert atomic_write_json(tmp_path / "c.json", {"v": 1}, mode=0o640).stat().st_mode & 0o777 == 0o640
