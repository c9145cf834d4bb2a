"""One grid grammar for the CLI (``--grid``), experiment specs and notebooks (peaktrade.experiments.grid)."""

from __future__ import annotations

from pathlib import Path

import pytest

from peaktrade.errors import PeakTradeError
from peaktrade.experiments.batch import ExperimentError, load_spec, strategy_uses
from peaktrade.experiments.grid import parse_grid, parse_value, parse_values

ROOT = Path(__file__).resolve().parents[2]


def test_parse_grid_when_cli_items_then_reads_ranges_lists_and_floats():
    assert parse_grid(["fast=5:20:5", "kind=sma,ema", "sl_stop=0.01:0.04:0.01"]) == {
        "fast": [5, 10, 15], "kind": ["sma", "ema"], "sl_stop": [0.01, 0.02, 0.03]}
    with pytest.raises(PeakTradeError, match="START < STOP and STEP > 0"):
        parse_grid(["fast=1:2:0"])


def test_parse_grid_when_mapping_of_lists_and_strings_then_same_values_as_the_cli():
    mapping = parse_grid({"fast": "5:50:5", "slow": [60, 80], "kind": "sma,ema", "flag": "true"}, what="grid")
    cli = parse_grid(["fast=5:50:5", "slow=60,80", "kind=sma,ema", "flag=true"])
    assert mapping == cli == {"fast": list(range(5, 50, 5)), "slow": [60, 80], "kind": ["sma", "ema"],
                              "flag": [True]}


@pytest.mark.parametrize("grid,needle", [
    ({"fast": 5}, "grid entry 'fast' is invalid (5): expected a non-empty list"),
    ({"fast": []}, "grid entry 'fast' is invalid ([]): expected a non-empty list"),
    ({"fast": "5:x"}, "grid entry 'fast' ('5:x') is invalid: expected START:STOP[:STEP] with numbers"),
    ({"fast": "9:3"}, "START < STOP"),
    ({"fast": " , "}, "expected START:STOP[:STEP] with numbers, A,B,C or one value"),
    (["fast"], "--grid 'fast' is invalid: expected NAME=START:STOP[:STEP] or NAME=A,B,C"),
])
def test_parse_grid_when_entry_malformed_then_one_line_error_names_it(grid, needle):
    what = "--grid" if isinstance(grid, list) else "grid"
    with pytest.raises(PeakTradeError) as e:
        parse_grid(grid, what=what)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_parse_value_when_text_then_bool_int_float_or_string():
    assert [parse_value(v) for v in ("True", "3", "0.5", "1e-3", "ema")] == [True, 3, 0.5, 0.001, "ema"]
    assert parse_values("0.1:0.35:0.1") == [0.1, 0.2, 0.3]


def _spec(tmp_path: Path, body: str) -> Path:
    (tmp_path / "experiments").mkdir(exist_ok=True)
    p = tmp_path / "experiments" / "s.toml"
    p.write_text(f'name = "s"\nnotebook = "{ROOT / "notebooks" / "20-sweep.ipynb"}"\n' + body, encoding="utf-8")
    return p


def test_load_spec_when_grids_written_as_range_strings_then_notebook_gets_the_lists(tmp_path):
    spec = load_spec(_spec(tmp_path, '[parameters]\nstrategy = "ma_crossover"\n'
                                     'grid = { fast = "5:20:5", slow = [60, 80] }\n'
                                     '[grid]\nexecution = "next_open,close"\nfees = "0.001:0.004:0.001"\n'))
    assert [(s["execution"], s["fees"]) for s in spec.parameter_sets] == [
        ("next_open", 0.001), ("next_open", 0.002), ("next_open", 0.003),
        ("close", 0.001), ("close", 0.002), ("close", 0.003)]
    assert all(s["grid"] == {"fast": [5, 10, 15], "slow": [60, 80]} for s in spec.parameter_sets)
    # the lookahead gate checks the same expanded grid
    assert strategy_uses(spec) == [("ma_crossover", {"fast": [5, 10, 15], "slow": [60, 80]}, "1h")]


@pytest.mark.parametrize("body,needle", [
    ('[grid]\nfees = "0.3:0.1"\n', "[grid] of"),
    ('[parameters]\ngrid = { fast = "x:1" }\n', "grid of"),
])
def test_load_spec_when_grid_string_malformed_then_refused_naming_the_entry(tmp_path, body, needle):
    with pytest.raises(ExperimentError) as e:
        load_spec(_spec(tmp_path, body))
    assert needle in str(e.value) and ("'fees'" in str(e.value) or "'fast'" in str(e.value))
