"""``peaktrade monitor``: every session at a glance in the terminal (Textual), with the watchdog inside.

Keys: ``enter`` drill down into the selected run (equity sparkline, recent orders, fills, denials, log tail),
``k`` engage the kill switch (scope all; asks for confirmation), ``r`` refresh, ``q`` quit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Header, Label, Sparkline, Static

from peaktrade.monitor.views import kill_switch_state, run_detail, runs_table, signature

if TYPE_CHECKING:
    from peaktrade.config import Config

COLUMNS = ("run", "state", "env", "strategy", "equity", "P&L", "today", "drawdown", "position", "last bar",
           "heartbeat", "budget", "events")


def _fmt(v: Any, spec: str = ",.2f") -> str:
    return "–" if v is None else format(v, spec)


def _row(r: dict[str, Any]) -> tuple[str, ...]:
    hb = "–" if r["heartbeat_age"] is None else f"{r['heartbeat_age']:.0f}s" + (" MISSED" if r["missed"] else "")
    bar = "–" if r["last_bar_age"] is None else f"{r['last_bar_age']:.0f}s"
    return (r["run_id"], r["status"], r["environment"], f"{r['strategy']} {r['symbol']}", _fmt(r["equity"]),
            _fmt(r["pnl"], "+,.2f"), _fmt(r["pnl_today"], "+,.2f"), _fmt(r["drawdown"], ".2%"),
            _fmt(r["position"], ".6g"), bar, hb, _fmt(r["budget_used"], ".0%"), str(r["n_events"]))


class ConfirmKill(ModalScreen[bool]):
    """Ask before engaging the kill switch."""

    BINDINGS = [Binding("y", "answer(True)", "yes"), Binding("n,escape", "answer(False)", "no")]

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Label("Engage the kill switch (scope all)? Every session stops sending orders. [y/n]")
            with Horizontal():
                yield Button("engage", variant="error", id="yes")
                yield Button("cancel", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class MonitorApp(App[None]):
    """The terminal monitor of ``cfg``'s runs (refreshes when a run writes; the watchdog checks every ``every`` s)."""

    TITLE = "peaktrade monitor"
    CSS = """
    #switch { height: 1; padding: 0 1; }
    #switch.engaged { color: red; text-style: bold; }
    #runs { height: 1fr; }
    #detail { height: auto; max-height: 50%; padding: 0 1; }
    #spark { height: 3; }
    #confirm { width: 70; height: auto; border: thick red; padding: 1 2; background: $surface; }
    ConfirmKill { align: center middle; }
    """
    BINDINGS = [Binding("q", "quit", "quit"), Binding("k", "kill", "kill switch"), Binding("r", "refresh", "refresh"),
                Binding("enter", "detail", "detail", show=True)]

    def __init__(self, cfg: Config, *, every: float = 1.0, watchdog: bool = True, poll: float = 0.5) -> None:
        super().__init__()
        self.cfg, self.every, self.poll = cfg, every, poll
        self._sig: Any = None
        self.alerts_seen: list[str] = []
        self.watchdog = None
        if watchdog:
            from peaktrade.alerts import AlertDispatcher
            from peaktrade.monitor.watchdog import Watchdog

            self.watchdog = Watchdog(cfg.runs_dir, alerts=AlertDispatcher.from_config(cfg),
                                     on_event=lambda ev: self.alerts_seen.append(f"{ev.kind.value} {ev.run_id}"))

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("", id="switch")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        with Vertical(id="detail"):
            yield Static("select a run and press enter", id="detail-title")
            yield Sparkline([], id="spark")
            yield Static("", id="detail-body")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.add_columns(*COLUMNS)
        self.action_refresh()
        self.set_interval(self.poll, self._maybe_refresh)
        if self.watchdog is not None:
            self.set_interval(self.every, self._watch)

    def _watch(self) -> None:
        if self.watchdog is not None and self.watchdog.check():
            self.action_refresh()

    def _maybe_refresh(self) -> None:
        if signature(self.cfg) != self._sig:
            self.action_refresh()

    def action_refresh(self) -> None:
        self._sig = signature(self.cfg)
        table = self.query_one("#runs", DataTable)
        keep = table.cursor_row
        table.clear()
        for r in runs_table(self.cfg):
            table.add_row(*_row(r), key=r["run_id"])
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
        ks = kill_switch_state(self.cfg)
        sw = self.query_one("#switch", Static)
        sw.update("kill switch: ENGAGED (halted)" if ks["engaged"] else "kill switch: released (active)")
        sw.set_class(ks["engaged"], "engaged")

    def selected_run(self) -> str | None:
        table = self.query_one("#runs", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_detail()

    def action_detail(self) -> None:
        run_id = self.selected_run()
        if run_id is None:
            return
        d = run_detail(self.cfg.runs_dir / run_id, last=5)
        self.query_one("#detail-title", Static).update(f"run {run_id}: equity, recent orders, fills, denials, log")
        self.query_one("#spark", Sparkline).data = [v for _, v in d["equity"]] or [0.0]

        def lines(title: str, evs: list[dict[str, Any]]) -> list[str]:
            out = [f"{title} ({len(evs)} shown)"]
            for e in evs:
                p = e["payload"]
                what = p.get("reason") or p.get("event") or f"{p.get('side', '')} {p.get('quantity', '')} @ {p.get('price', '')}"
                out.append(f"  {e['seq']:>6} {e['type']:<9} {str(e.get('time') or '')[:16]:<16} {what}")
            return out

        body = [*lines("orders", d["orders"]), *lines("fills", d["fills"]), *lines("denials", d["denials"]),
                *lines("log tail", d["tail"])]
        self.query_one("#detail-body", Static).update("\n".join(body))

    def action_kill(self) -> None:
        def done(yes: bool | None) -> None:
            if yes:
                from peaktrade.safety import DecisionLog, KillSwitch

                KillSwitch(self.cfg.state_dir, None, log=DecisionLog.from_config(self.cfg)).engage(
                    "peaktrade monitor", scope="all", source="monitor")
                self.notify("kill switch engaged (scope all)", severity="error")
            self.action_refresh()

        self.push_screen(ConfirmKill(), done)
