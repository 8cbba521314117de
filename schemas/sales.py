"""Representation of a sale pushed by the ERP, with the partner's answer."""

from collections.abc import Sequence
from decimal import Decimal

from models import ErpSale
from schemas.common import money, timestamp
from services.orders import customer_ids, order_ids


def sale_representation(sale: ErpSale) -> dict:
    """One sale, with the public ids of its customer and order."""
    return sale_representations([sale])[0]


def sale_representations(sales: Sequence[ErpSale]) -> list[dict]:
    """Sales, the public ids of their customers and orders read in one query each."""
    customers = customer_ids({sale.customer_pk for sale in sales})
    orders = order_ids({sale.order_pk for sale in sales})
    return [_sale_body(sale, customers.get(sale.customer_pk), orders.get(sale.order_pk)) for sale in sales]


def _sale_body(sale: ErpSale, customer_id: str | None, order_id: str | None) -> dict:
    return {
        "id": sale.id,
        "document": sale.document,
        "name": sale.name,
        "sold_at": timestamp(sale.sold_at),
        "total": money(sale.total),
        "cashback": money(sale.cashback),
        # Sales stored before values were kept with two places still read "10" or "10.5".
        "products": [{**product, "value": money(Decimal(product["value"]))} for product in sale.products],
        "customer_id": customer_id,
        "order_id": order_id,
        "status": sale.status,
        "attempts": sale.attempts,
        "last_error": sale.last_error,
        "partner": sale.partner,
        "created_at": timestamp(sale.created_at),
    }
