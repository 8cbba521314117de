"""Product types and their cashback percentages (admins)."""

from decimal import Decimal

from api.responses import json_response, no_content
from schemas.product_types import product_type_representation
from services import product_types


def list_product_types():
    """Every product type."""
    return json_response({"items": [product_type_representation(p) for p in product_types.list_product_types()]})


def get_product_type(code):
    """One product type."""
    return json_response(product_type_representation(product_types.product_type(code)))


def put_product_type(code, body):
    """Create or change a product type."""
    found, created = product_types.put_product_type(code, Decimal(body["cashback_percent"]))
    return json_response(product_type_representation(found), 201 if created else 200)


def delete_product_type(code):
    """Remove a product type no order uses."""
    product_types.delete_product_type(code)
    return no_content()
