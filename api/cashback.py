"""The ERP sales feed and its reconciliation: receive a sale, list and inspect them, retry forwarding."""

from datetime import datetime
from decimal import Decimal

from flask import current_app

from api.idempotency import idempotent
from api.responses import json_response
from api.rewards import parse_time
from schemas.rewards import sale_representation
from services import cashback
from services.customers import customer_from_ref
from services.errors import InvalidInput
from services.orders import Item, customer_ids, order_ids

ERP_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def _sale_body(sale) -> dict:
    return sale_representation(
        sale, customer_ids({sale.customer_pk}).get(sale.customer_pk), order_ids({sale.order_pk}).get(sale.order_pk)
    )


def _sold_at(value: str) -> datetime:
    """The ERP's sale time: ISO 8601, or "YYYY-MM-DD HH:MM:SS" (UTC when no offset is given)."""
    moment = None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        for layout in ERP_TIME_FORMATS:
            try:
                moment = datetime.strptime(value, layout)
                break
            except ValueError:
                continue
    if moment is None:
        raise InvalidInput.single("sold_at", "must be a date and time like 2026-11-22 10:30:00")
    return parse_time(moment.isoformat(), "sold_at")


def _amount(value, field: str) -> Decimal:
    number = Decimal(str(value))
    if not number.is_finite() or number <= 0:
        raise InvalidInput.single(field, "must be more than 0")
    if number != number.quantize(Decimal("0.01")):
        raise InvalidInput.single(field, "must have at most two decimal places")
    return number


@idempotent
def record_sale(body):
    """Receive a sale from the ERP: validate, credit the customer (or keep it), forward the cashback."""
    products = body["products"]
    items = [Item(p["type"], _amount(p["value"], f"products.{n}.value"), p["qty"]) for n, p in enumerate(products)]
    sale = cashback.Sale(
        document=body["customer"]["document"],
        name=body["customer"]["name"],
        sold_at=_sold_at(body["sold_at"]),
        total=_amount(body["total"], "total"),
        items=items,
    )
    stored = cashback.record_sale(sale)
    forwarded = cashback.forward(stored.id)
    return json_response(_sale_body(forwarded), 201, {"Location": f"/api/cashback/{forwarded.id}"})


def list_sales(status=None, document=None, assigned=None, from_=None, to=None, limit=None, cursor=None):
    """Sales for reconciliation, newest first."""
    filters = cashback.SaleFilters(status, document, parse_time(from_, "from"), parse_time(to, "to"), assigned)
    found, next_cursor = cashback.list_sales(
        filters, limit=limit or current_app.config["PAGE_SIZE_DEFAULT"], cursor=cursor
    )
    return json_response({"items": [_sale_body(s) for s in found], "next_cursor": next_cursor})


def get_sale(sale_id):
    """One sale with the partner's answer."""
    return json_response(_sale_body(cashback.sale_from_id(sale_id)))


def assign_sale(sale_id, body):
    """Attach an unattached sale to a customer by hand."""
    customer = customer_from_ref(body["customer"], field="customer")
    return json_response(_sale_body(cashback.assign_sale(sale_id, customer)))


def retry_sale(sale_id):
    """Send a failed sale to the partner again."""
    return json_response(_sale_body(cashback.retry(sale_id)))
