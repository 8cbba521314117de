"""Orders: add one to a customer, list, get, and reverse (undo a sale)."""

from api.idempotency import idempotent
from api.params import parse_time, time_window
from api.responses import json_response
from api.security import caller
from schemas.orders import order_representation
from schemas.rewards import rewards_representation
from services import orders
from services.customers import customer_from_ref, customer_key
from services.pagination import Page
from services.settings import current_settings


def _order_body(order, customer_id: str | None) -> dict:
    return order_representation(order, orders.order_items([order.pk])[order.pk], customer_id)


def _page(page: Page):
    items_by_order = orders.order_items([o.pk for o in page.items])
    ids = orders.customer_ids({o.customer_pk for o in page.items})
    items = [order_representation(o, items_by_order[o.pk], ids.get(o.customer_pk)) for o in page.items]
    return json_response({"items": items, "next_cursor": page.next_cursor})


@idempotent
def create_order(customer, body):
    """Add an order to a customer: it earns points and cashback at once."""
    record = customer_key(customer, caller())
    items = [
        orders.Item(i["type"], orders.parse_amount(i["value"], f"items.{n}.value"), i["qty"])
        for n, i in enumerate(body.get("items") or [])
    ]
    order, summary = orders.place_order(
        record,
        total=orders.parse_amount(body["total"], "total"),
        items=items,
        sold_at=parse_time(body.get("sold_at"), "sold_at"),
        external_id=body.get("external_id"),
    )
    # The answer is built from the values just written: nothing is read back after the commit.
    payload = {"order": order_representation(order, order.items, record.id), "rewards": rewards_representation(summary)}
    return json_response(payload, 201, {"Location": f"/api/orders/{order.id}"})


def list_customer_orders(customer, status=None, from_=None, to=None, limit=None, cursor=None):
    """A customer's orders, newest first."""
    record = customer_from_ref(customer, caller())
    filters = orders.OrderFilters(record.pk, status, time_window(from_, to))
    return _page(orders.list_orders(filters, limit=limit or current_settings().page_size_default, cursor=cursor))


def list_orders(customer=None, status=None, from_=None, to=None, limit=None, cursor=None):
    """Every order, newest first, filtered by customer, status and sale time."""
    customer_pk = customer_from_ref(customer).pk if customer else None
    filters = orders.OrderFilters(customer_pk, status, time_window(from_, to))
    return _page(orders.list_orders(filters, limit=limit or current_settings().page_size_default, cursor=cursor))


def get_order(order_id):
    """One order."""
    order = orders.order_from_id(order_id, caller())
    return json_response(_order_body(order, orders.customer_ids({order.customer_pk}).get(order.customer_pk)))


def reverse_order(order_id):
    """Undo a sale: compensating ledger entries, status reversed."""
    order, summary = orders.reverse_order(order_id)
    customer_id = orders.customer_ids({order.customer_pk}).get(order.customer_pk)
    body = {"order": _order_body(order, customer_id), "rewards": rewards_representation(summary) if summary else None}
    return json_response(body)
