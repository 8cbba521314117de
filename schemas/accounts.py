"""Representation of the caller's own account (GET /auth/me)."""

from models import Customer, User
from schemas.customer import customer_representation
from services.customers import record_of


def me_representation(user: User, customer: Customer | None) -> dict:
    """Who the caller is, with the customer record linked to the account (or null)."""
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "email_verified": user.email_verified,
        "customer": customer_representation(record_of(customer)) if customer else None,
    }
