"""A testnet session takes the one-instance lock of its (account, strategy, symbol) before anything is created
or sent (issue 17, item 4)."""

from __future__ import annotations

import pytest
from testnet_helpers import FakeCcxtKraken, write_testnet_config, zigzag_bars

from peaktrade.config import load_config
from peaktrade.live.testnet import run_testnet_session
from peaktrade.safety import SessionLock, SessionLocked, read_holder


def test_testnet_session_when_lock_held_then_refuses_to_start_and_sends_nothing(tmp_path, clean_env):
    clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(write_testnet_config(tmp_path)))
    cfg = load_config()
    fake = FakeCcxtKraken(price=100.0, cash=1000.0)
    zigzag_bars(fake, 60)
    held = SessionLock.for_session(cfg, "testnet", strategy="ma_crossover", symbol="BTC/USD", run_id="manual-run")
    try:
        with pytest.raises(SessionLocked, match="another session is running .*run manual-run"):
            run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=fake, warmup=10, catch_up=40,
                                max_bars=40, handle_signals=False, poll_interval=0.01)
        assert fake.count("create_order") == 0 and not list(cfg.runs_dir.glob("*/meta.json"))
    finally:
        held.release()
    res = run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=fake, warmup=10, catch_up=40,
                              max_bars=40, handle_signals=False, poll_interval=0.01)
    assert res.status == "completed" and fake.count("create_order") > 0
    assert read_holder(held.path) is None  # released at the end of the run
