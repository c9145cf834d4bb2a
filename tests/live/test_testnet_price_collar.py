"""A testnet session's orders priced beyond ``[risk] max_price_deviation`` from the venue's mid are refused at
the wire, and the run log says so (issue 17, item 5)."""

from __future__ import annotations

import re

from testnet_helpers import FakeCcxtKraken, write_testnet_config, zigzag_bars

from peaktrade.config import load_config
from peaktrade.live.runlog import read_events
from peaktrade.live.testnet import run_testnet_session


def test_testnet_session_when_orders_beyond_price_collar_then_none_sent_and_run_log_names_the_gate(tmp_path,
                                                                                                   clean_env):
    clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(write_testnet_config(tmp_path)))
    cfg = load_config()
    cfg.risk.max_price_deviation = 0.001  # the fake's touch is 0.5 % from its mid
    fake = FakeCcxtKraken(price=100.0, cash=1000.0)
    zigzag_bars(fake, 60)
    res = run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=fake, warmup=10, catch_up=40,
                              max_bars=40, handle_signals=False, poll_interval=0.01)
    assert fake.count("create_order") == 0
    denied = [e["payload"] for e in read_events(res.run_dir) if e["payload"].get("event") == "wire_denied"]
    assert denied and all(d["gate"] == "price_collar" for d in denied)
    # checked at the worst of the decision price (the bar's close) and the touch (0.5 % from the mid)
    assert re.search(r"deviates \d+\.\d\d% from the reference mid 100\.00 > max_price_deviation 0\.10%",
                     denied[0]["reason"])
