"""``peaktrade strategies list`` and ``peaktrade strategies show NAME`` through the real entry point."""

from __future__ import annotations

from peaktrade.cli import main as cli_main
from peaktrade.strategies.registry import LIBRARY


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli_main.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_strategies_list_when_called_then_shows_every_library_strategy(capsys):
    code, out, _ = run(capsys, "strategies", "list")
    assert code == 0
    for name in LIBRARY:
        assert name in out
    assert "fast=20" in out  # parameters with defaults


def test_strategies_show_when_name_known_then_prints_params_constraints_and_stop_defaults(capsys):
    code, out, _ = run(capsys, "strategies", "show", "breakout")
    assert code == 0
    assert "window: int = 20 in [1, 10000]  # channel window" in out
    assert "sl_stop: float = 0.05 in [0.0, 1.0]  # stop-loss distance" in out
    assert "stop defaults: sl_stop=0.05, tp_stop=0.15, sl_trail=0.08" in out


def test_strategies_show_when_strategy_has_constraints_then_lists_them(capsys):
    code, out, _ = run(capsys, "strategies", "show", "ma_crossover")
    assert code == 0
    assert "kind: choice = 'sma' in ['sma', 'ema']  # moving-average type" in out
    assert "constraints:\n  fast < slow" in out
    assert "stop defaults: none" in out


def test_strategies_show_when_name_unknown_then_one_line_error_and_exit_2(capsys):
    code, out, err = run(capsys, "strategies", "show", "no_such_strategy")
    assert code == 2
    assert "unknown strategy 'no_such_strategy'" in err
    assert "Traceback" not in err and out == ""
