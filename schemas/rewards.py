"""Representations of tiers, rewards, orders, ledger entries, product types and ERP sales."""

from decimal import Decimal

from models import ErpSale, LedgerEntry, Order, OrderItem, ProductType
from schemas.common import timestamp
from services.rewards import TierInfo


def money(value: Decimal | None) -> str | None:
    """A decimal string with two places."""
    return None if value is None else f"{value:.2f}"


def rewards_representation(summary: dict) -> dict:
    """A rewards summary with money as a string."""
    return {**summary, "cashback_balance": money(summary["cashback_balance"])}


def tier_representation(tier: TierInfo) -> dict:
    return {"tier": tier.tier, "points": tier.points, "name": tier.name}


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


def ledger_representation(entry: LedgerEntry, order_id: str | None) -> dict:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "points": entry.points,
        "amount": money(entry.amount),
        "points_balance": entry.points_balance,
        "cashback_balance": money(entry.cashback_balance),
        "order_id": order_id,
        "created_at": timestamp(entry.created_at),
    }


def product_type_representation(product_type: ProductType) -> dict:
    return {"code": product_type.code, "cashback_percent": money(product_type.cashback_percent)}


def sale_representation(sale: ErpSale, customer_id: str | None, order_id: str | None) -> dict:
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
