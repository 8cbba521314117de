"""The shared database helpers on the real database: unique violations read as fields, look-ups by public id."""

from decimal import Decimal

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from models import Customer, ProductType, User, db
from models.types import utcnow
from services.customers import UNIQUE_FIELDS
from services.database import by_public_id, unique_conflict, unique_violation_field
from services.errors import Conflict, NotFound


def _violation(statement, rows: list[dict]) -> IntegrityError:
    """The IntegrityError of writing `rows` one after the other (the last one breaks a constraint)."""
    with pytest.raises(IntegrityError) as caught:
        for row in rows:
            db.session.execute(statement, row)
    db.session.rollback()
    return caught.value


def _customers(*rows: dict) -> IntegrityError:
    now = utcnow()
    return _violation(insert(Customer), [{"created_at": now, "updated_at": now, **row} for row in rows])


@pytest.mark.parametrize(
    ("second", "field"),
    [
        ({"id": "b", "email": "a@example.com"}, "email"),
        ({"id": "a", "email": "b@example.com"}, "id"),
        ({"id": "b", "account_id": 7, "phone_number": "+13235551234"}, "phone_number"),
        ({"id": "b", "account_id": 7, "client_member_id": "m1"}, "client_member_id"),
    ],
)
def test_unique_violation_names_the_field_of_its_constraint(app_context, second, field):
    """The constraint PostgreSQL names, or the column list SQLite gives, leads to the field (composite ones too)."""
    first = {"id": "a", "email": "a@example.com", "account_id": 7, "phone_number": "+13235551234"}
    exc = _customers(first | {"client_member_id": "m1"}, second)
    assert unique_violation_field(exc, UNIQUE_FIELDS) == field


def test_unlisted_constraint_or_other_violation_is_no_field(app_context):
    """A unique constraint missing from the map, or a violation of another kind, names no field."""
    taken = _customers({"id": "a", "email": "a@example.com"}, {"id": "b", "email": "a@example.com"})
    assert unique_violation_field(taken, {"uq_customers_document": "document"}) is None
    negative = _customers({"id": "c", "cashback_balance": -1})
    assert unique_violation_field(negative, UNIQUE_FIELDS | {"ck_customers_cashback_not_negative": "balance"}) is None


def test_unique_conflict_rolls_back_and_raises_a_conflict_on_the_field(app_context, make_user):
    """Inside unique_conflict a duplicate becomes Conflict(field, detail) and the session is usable again."""
    taken = make_user("staff", "taken@example.com")
    db.session.add(User(id="u2", email=taken.email, password_hash="x", role="staff"))
    with pytest.raises(Conflict) as caught, unique_conflict({"uq_users_email": "email"}, "The {field} is taken."):
        db.session.commit()
    assert (caught.value.field, caught.value.detail) == ("email", "The email is taken.")
    assert by_public_id(User, taken.id, "user").email == "taken@example.com"


def test_unique_conflict_lets_other_integrity_errors_through(app_context):
    """A violation the map does not name is not a Conflict: it rolls back and propagates."""
    db.session.add(Customer(id="a", email="a@example.com", cashback_balance=-1))
    with pytest.raises(IntegrityError), unique_conflict(UNIQUE_FIELDS, "Another customer already has this {field}."):
        db.session.commit()
    assert db.session.scalars(db.select(Customer)).all() == []


def test_by_public_id_finds_the_record_or_says_what_is_missing(app_context, make_user):
    """The record with the public id; else NotFound naming the label and the id."""
    user = make_user("staff")
    assert by_public_id(User, user.id, "user").pk == user.pk
    with pytest.raises(NotFound) as caught:
        by_public_id(User, "nobody", "user")
    assert caught.value.detail == "No user 'nobody'."


def test_by_public_id_of_a_model_without_id_uses_its_primary_key(app_context):
    """A product type's code is its public id."""
    assert by_public_id(ProductType, "A", "product type").cashback_percent == Decimal("5")
    with pytest.raises(NotFound, match="No product type 'Z'."):
        by_public_id(ProductType, "Z", "product type")
