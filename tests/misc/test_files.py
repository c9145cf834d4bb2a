"""peaktrade._files: atomic writes and the explicit non-finite policy of JSON."""

import json
import math

import numpy as np
import pandas as pd
import pytest

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
