"""The portfolio section of an HTML report: statistics, equity, stacked weights, contribution, orders."""

from __future__ import annotations

from typing import Any

#: Orders tables longer than this show their first and last rows only.
ORDERS_MAX_ROWS = 60
_ORDER_COLS = ("time", "symbol", "side", "size", "price", "fees", "notional")


def portfolio_section(result: Any, figs: Any) -> str:
    """Return the HTML body of a :class:`~peaktrade.portfolio.PortfolioResult`'s report section."""
    import pandas as pd

    from peaktrade.reporting import _html as h
    from peaktrade.reporting.report import _costs_note, _stats_tables

    parts = [_costs_note(result),
             _stats_tables(result.stats(), title="portfolio statistics", css_id="portfolio-stats-table")]
    setup = {**result.alloc, "rebalance": result.rebalance, "mode": result.mode, "symbols": ", ".join(result.symbols)}
    if result.strategy:
        setup["gating strategy"] = result.strategy
    side = [h.kv_table({k: str(v) for k, v in setup.items()}, title="allocation")]
    contrib = result.contribution()
    side.append(h.kv_table({s: f"{v:+.2%}" for s, v in contrib.items()}, title="contribution to the total return"))
    parts.append(f'<div class="grid">{"".join(side)}</div>')
    parts.append("<h3>equity, weights and contribution</h3>")
    parts.append(figs.html(result.plot(), "portfolio"))
    last = pd.DataFrame({"target": result.target_weights.iloc[-1], "weight": result.weights.iloc[-1]})
    parts.append(h.frame_table(last.map(lambda v: "-" if pd.isna(v) else f"{v:.2%}"), css_id="portfolio-weights"))
    orders = result.orders
    parts.append(f"<h3>orders ({len(orders):,})</h3>")
    if len(orders):
        parts.append(h.frame_table(orders[list(_ORDER_COLS)], max_rows=ORDERS_MAX_ROWS, head=25, tail=25,
                                   css_id="portfolio-orders-table"))
    else:
        parts.append('<p class="note">no orders</p>')
    return "".join(parts)


__all__ = ["portfolio_section"]
