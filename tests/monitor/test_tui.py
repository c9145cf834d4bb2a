"""`peaktrade monitor` (Textual) headless: pilot drives it (drill down, kill switch with confirmation) and a
snapshot pins its look."""

from __future__ import annotations

import asyncio

import pandas as pd

from peaktrade.live.runlog import RunLog
from peaktrade.monitor.tui import MonitorApp
from peaktrade.safety import KillSwitch


def _runs(cfg):
    """Two finished runs with fixed ids and values (a deterministic screen)."""
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    for rid, eq in (("20240101-000000-paper-ma_crossover-aaaaaa", [10000.0, 10100.0, 9950.0, 10200.0]),
                    ("20240102-000000-shadow-breakout-bbbbbb", [5000.0, 4900.0, 4800.0])):
        log = RunLog.create(cfg.runs_dir, rid, {"environment": rid.split("-")[2], "strategy": rid.split("-")[3],
                                                "symbol": "BTC/USD", "options": {"init_cash": eq[0]}})
        log.meta["started_at"] = rid[:8]  # fixed order
        for i, v in enumerate(eq):
            t = t0 + pd.Timedelta(hours=i)
            if i == 1:
                log.event("order", t, {"side": "buy", "quantity": 0.1, "symbol": "BTC/USD", "price": 100.0 + i})
                log.event("fill", t, {"side": "buy", "quantity": 0.1, "symbol": "BTC/USD", "price": 100.0 + i})
            if i == 2:
                log.event("denial", t, {"side": "sell", "quantity": 0.1, "gate": "max_daily_loss", "reason": "loss 5 > 3"})
            log.event("equity", t, {"equity": v, "cash": v, "position": 0.0})
        log.close("completed", {"final_equity": eq[-1], "initial_cash": eq[0], "position": 0.0})


def test_monitor_when_enter_then_detail_and_when_k_confirmed_then_kill_switch_engaged(make_cfg):
    cfg = make_cfg()
    _runs(cfg)

    async def drive():
        app = MonitorApp(cfg, watchdog=False)
        async with app.run_test(size=(160, 40)) as pilot:
            table = app.query_one("#runs")
            assert table.row_count == 2
            await pilot.press("down", "enter")
            await pilot.pause()
            body = str(app.query_one("#detail-body").render())
            assert "loss 5 > 3" in body  # the denial's reason
            assert "denials (1 shown)" in body and "fills (1 shown)" in body
            assert list(app.query_one("#spark").data) == [10000.0, 10100.0, 9950.0, 10200.0]
            await pilot.press("k")
            await pilot.pause()
            await pilot.press("n")  # declined: nothing changes
            await pilot.pause()
            assert not KillSwitch(cfg.state_dir, "paper").status().engaged
            await pilot.press("k")
            await pilot.pause()
            await pilot.press("y")
            await pilot.pause()
            assert KillSwitch(cfg.state_dir, "paper").status().engaged
            assert "ENGAGED" in str(app.query_one("#switch").render())

    asyncio.run(drive())


def test_monitor_snapshot_when_two_finished_runs_then_matches(make_cfg, snap_compare):
    cfg = make_cfg()
    _runs(cfg)
    assert snap_compare(MonitorApp(cfg, watchdog=False), terminal_size=(150, 30))
