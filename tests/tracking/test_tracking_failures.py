"""A tracking failure is a warning: the result is kept, nothing is raised into the computation."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from peaktrade.tracking import log_backtest, log_sweep, log_walk_forward, tracked_run


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "peaktrade.tracking" and r.levelno == logging.WARNING]


@pytest.fixture(params=["file_as_directory", "directory_as_database", "not_a_database", "unknown_scheme"])
def broken_cfg(request, make_cfg, tmp_path, monkeypatch):
    """A config whose tracking store cannot work, one way per parameter."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if request.param == "file_as_directory":
        (tmp_path / "blocker").write_text("a file where the store's directory should be")
        uri = f"sqlite:///{tmp_path}/blocker/mlruns.db"
    elif request.param == "directory_as_database":
        (tmp_path / "dbdir").mkdir()
        uri = f"sqlite:///{tmp_path}/dbdir"
    elif request.param == "not_a_database":
        (tmp_path / "junk.db").write_bytes(b"this is not an sqlite database " * 64)
        uri = f"sqlite:///{tmp_path}/junk.db"
    else:
        uri = "nosuchscheme://nowhere"
    return make_cfg(tracking={"uri": uri, "artifacts": str(tmp_path / "art")})


def test_log_backtest_when_store_is_broken_then_warns_returns_none_and_keeps_the_result(broken_cfg, result, caplog):
    equity_before = result.equity.copy()
    trades_before = result.trades.copy()

    with caplog.at_level(logging.WARNING, logger="peaktrade.tracking"):
        run_id = log_backtest(result, config=broken_cfg)

    assert run_id is None
    assert any("log_backtest was not tracked" in m for m in _warnings(caplog))
    pd.testing.assert_series_equal(result.equity, equity_before)
    pd.testing.assert_frame_equal(result.trades, trades_before)


def test_log_sweep_when_store_is_broken_then_warns_and_returns_none(broken_cfg, sweep_result, caplog):
    with caplog.at_level(logging.WARNING, logger="peaktrade.tracking"):
        assert log_sweep(sweep_result, config=broken_cfg) is None
    assert any("log_sweep was not tracked" in m for m in _warnings(caplog))


def test_tracked_run_when_store_is_broken_then_body_runs_with_an_inactive_handle(broken_cfg, caplog):
    computed = []
    with caplog.at_level(logging.WARNING, logger="peaktrade.tracking"):
        with tracked_run(config=broken_cfg, params={"a": 1}) as run:
            run.log_metrics({"x": 1.0})
            run.log_dataframe(pd.DataFrame({"a": [1]}), "a")
            computed.append(42)
    assert computed == [42]
    assert run.run_id is None and not run.active
    assert len(_warnings(caplog)) == 1


def test_log_walk_forward_when_store_is_broken_then_warns_and_returns_none(make_cfg, tmp_path, caplog):
    (tmp_path / "blocker").write_text("x")
    cfg = make_cfg(tracking={"uri": f"sqlite:///{tmp_path}/blocker/m.db"})

    class WF:  # the shape log_walk_forward reads; the store fails before any of it is used
        folds = pd.DataFrame({"fold": [0]})
        oos_equity = pd.Series([1.0], index=pd.DatetimeIndex(["2024-01-01"], tz="UTC"))

    with caplog.at_level(logging.WARNING, logger="peaktrade.tracking"):
        assert log_walk_forward(WF(), config=cfg) is None
    assert any("log_walk_forward was not tracked" in m for m in _warnings(caplog))


def test_tracked_run_when_store_breaks_mid_run_then_later_calls_only_warn(tcfg, client, caplog):
    with caplog.at_level(logging.WARNING, logger="peaktrade.tracking"):
        with tracked_run(config=tcfg) as run:
            run.log_params({"a": 1})
            run.log_params({"a": 2})  # MLflow rejects changing a param: a tracking failure, not a crash
            run.log_metrics({"after": 1.0})
    assert any("log_params" in m for m in _warnings(caplog))
    r = client.get_run(run.run_id)
    assert r.data.params["a"] == "1" and r.data.metrics["after"] == 1.0 and r.info.status == "FINISHED"
