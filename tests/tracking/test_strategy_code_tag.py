"""The provenance tags of a tracked run include a hash of the strategy's source: a user's strategy file
edited between two runs gives two different tags (MLflow's real store: the SQLite store peaktrade
uses; this MLflow refuses its file store without ``MLFLOW_ALLOW_FILE_STORE``)."""

from __future__ import annotations

import os
import textwrap

from peaktrade.backtest import run
from peaktrade.provenance import TAG_STRATEGY_CODE, UNKNOWN
from peaktrade.tracking import log_backtest

USER_FILE = '''
import peaktrade.strategies as pts


class Tagged(pts.PandasStrategy):
    name = "tagged_cross"
    params = (pts.Param("w", "int", 10, low=2, high=50, step=2),)

    def signals(self, bars, *, w):
        up = bars["close"] > bars["close"].rolling(w).mean()
        return up & ~up.shift(1, fill_value=False), ~up & up.shift(1, fill_value=False)
'''


def _bump(path):
    # the registry re-imports a file whose (mtime, size) changed: make sure the mtime moves
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_log_backtest_when_user_strategy_file_edited_then_strategy_code_tag_changes(tcfg, client, bars):
    cfg = tcfg
    folder = cfg.root / "strategies"
    folder.mkdir()
    path = folder / "tagged.py"
    path.write_text(textwrap.dedent(USER_FILE), encoding="utf-8")

    first = log_backtest(run("tagged_cross", bars, w=10), config=cfg, report=False)
    again = log_backtest(run("tagged_cross", bars, w=12), config=cfg, report=False)
    path.write_text(textwrap.dedent(USER_FILE).replace("rolling(w)", "rolling(w, min_periods=w)"), encoding="utf-8")
    _bump(path)
    edited = log_backtest(run("tagged_cross", bars, w=10), config=cfg, report=False)

    tags = [client.get_run(r).data.tags for r in (first, again, edited)]
    codes = [t[TAG_STRATEGY_CODE] for t in tags]
    assert all(len(c) >= 16 and c != UNKNOWN for c in codes), codes
    assert codes[0] == codes[1]  # same source, other parameters: same hash
    assert codes[2] != codes[0]  # the edited file
    assert all(t["peaktrade.strategy"] == "tagged_cross" for t in tags)


def test_log_backtest_when_library_strategy_then_strategy_code_tag_is_its_module_hash(tcfg, client, result):
    from peaktrade.experiments.lookahead import strategy_code_hash

    run_id = log_backtest(result, config=tcfg, report=False)
    assert client.get_run(run_id).data.tags[TAG_STRATEGY_CODE] == strategy_code_hash("ma_crossover")
