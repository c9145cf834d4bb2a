"""Order helpers shared by the guard and the limits: exposure direction and a loggable summary."""

from __future__ import annotations

from typing import Any

from peaktrade.orders.model import OrderRequest

_EPS = 1e-9


def post_position(request: OrderRequest, position: float) -> float:
    """Return the position after ``request`` fills completely."""
    return position + request.signed_quantity


def is_reducing(request: OrderRequest, position: float) -> bool:
    """Return whether ``request`` moves ``position`` toward zero without flipping it.

    The ``reduce_only`` flag alone does not make an order reducing: a reduce-only order larger than
    the position, or against a flat position, is not.
    """
    if position == 0.0 or (request.signed_quantity > 0) == (position > 0):
        return False
    return request.quantity <= abs(position) * (1.0 + _EPS)


def exposure_change(request: OrderRequest, position: float) -> str:
    """Return ``"reduce"``, ``"increase"`` or ``"flip"`` for ``request`` against ``position``."""
    if is_reducing(request, position):
        return "reduce"
    post = post_position(request, position)
    if position != 0.0 and post != 0.0 and (post > 0) != (position > 0):
        return "flip"
    return "increase"


def fmt_qty(x: float) -> str:
    return f"{x:,.8g}"


def fmt_money(x: float) -> str:
    return f"{x:,.2f}"


def order_subject(request: OrderRequest, position: float | None = None) -> dict[str, Any]:
    """Return the fields of ``request`` worth logging (and the position it met, when known)."""
    out: dict[str, Any] = {"client_order_id": request.client_order_id, "symbol": request.symbol,
                           "side": request.side, "quantity": request.quantity, "type": request.type,
                           "limit_price": request.limit_price, "reduce_only": request.reduce_only,
                           "tag": request.tag}
    if position is not None:
        out["position"] = position
    return out
