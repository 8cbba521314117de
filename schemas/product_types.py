"""Representation of a product type and its cashback percentage."""

from models import ProductType
from schemas.common import money


def product_type_representation(product_type: ProductType) -> dict:
    return {"code": product_type.code, "cashback_percent": money(product_type.cashback_percent)}
