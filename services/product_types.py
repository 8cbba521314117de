"""Product types and the cashback percentage each earns."""

from decimal import Decimal

from sqlalchemy import exists, select

from models import ErpSale, OrderItem, ProductType, db
from models.types import utcnow
from services.activity import record_activity
from services.database import by_public_id
from services.errors import Conflict


def _kept_sales_use(code: str) -> bool:
    """Whether an ERP sale waiting for its customer (not yet an order) has a product of this type."""
    waiting = db.session.scalars(select(ErpSale.products).where(ErpSale.order_pk.is_(None)))
    return any(product["type"] == code for products in waiting for product in products)


def list_product_types() -> list[ProductType]:
    """Every product type, by code."""
    return list(db.session.scalars(select(ProductType).order_by(ProductType.code)))


def product_type(code: str) -> ProductType:
    """One product type."""
    return by_public_id(ProductType, code, "product type")


def put_product_type(code: str, cashback_percent: Decimal) -> tuple[ProductType, bool]:
    """Create or change a product type; True when it was created."""
    found = db.session.get(ProductType, code)
    created = found is None
    if created:
        found = ProductType(code=code)
        db.session.add(found)
    found.cashback_percent = cashback_percent
    found.updated_at = utcnow()
    record_activity("product_type.saved", f"product_type:{code}", cashback_percent=str(cashback_percent))
    db.session.commit()
    return found, created


def delete_product_type(code: str) -> None:
    """Remove a product type that no order and no kept ERP sale uses (409 otherwise)."""
    found = product_type(code)
    if db.session.scalar(select(exists().where(OrderItem.type == code))) or _kept_sales_use(code):
        raise Conflict(
            "code", f"Product type {code!r} is used by orders or kept sales and cannot be deleted.", "is in use"
        )
    db.session.delete(found)
    record_activity("product_type.deleted", f"product_type:{code}")
    db.session.commit()
