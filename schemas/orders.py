"""Representation of an order and its items."""

from models import Order, OrderItem
from schemas.common import money, timestamp


def order_representation(order: Order, items: list[OrderItem], customer_id: str | None) -> dict:
    return {
        "id": order.id,
        "customer_id": customer_id,
        "total": money(order.total),
        "points": order.points,
        "cashback": money(order.cashback),
        "status": order.status,
        "sold_at": timestamp(order.sold_at),
        "external_id": order.external_id,
        "items": [{"type": i.type, "value": money(i.value), "qty": i.qty} for i in items],
        "created_at": timestamp(order.created_at),
        "reversed_at": timestamp(order.reversed_at),
    }
