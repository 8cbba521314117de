"""The order service on the real database, for the rules the HTTP layer's own checks keep callers from reaching:
amounts as the feed and the API parse them, a total of 0 or less, and a sale placed outside any request."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import Activity, Customer, LedgerEntry, Order, db
from models.types import utcnow
from services import orders
from services.errors import InvalidInput


@pytest.fixture
def customer(app_context):
    now = utcnow()
    record = Customer(id="ana", email="ana@example.com", created_at=now, updated_at=now)
    db.session.add(record)
    db.session.commit()
    return record


def _refusal(call) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as refused:
        call()
    return [(error.field, error.message) for error in refused.value.errors]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ten", "must be an amount like 12.50"),
        ("", "must be an amount like 12.50"),
        ("0", "must be more than 0"),
        (0, "must be more than 0"),
        ("-0.01", "must be more than 0"),
        ("NaN", "must be more than 0"),
        ("Infinity", "must be more than 0"),
        ("100000000.00", "must be at most 99999999.99"),
        ("99999999.991", "must be at most 99999999.99"),
        ("0.001", "must have at most two decimal places"),
        (10.005, "must have at most two decimal places"),
    ],
)
def test_an_amount_that_is_not_money_is_refused_naming_the_field(value, message):
    assert _refusal(lambda: orders.parse_amount(value, "items.2.value")) == [("items.2.value", message)]


@pytest.mark.parametrize(
    ("value", "amount"),
    [("0.01", "0.01"), ("99999999.99", "99999999.99"), (12.5, "12.5"), (12, "12"), ("7.10", "7.10"), (0.1, "0.1")],
)
def test_an_amount_of_money_is_taken_as_written(value, amount):
    """A JSON number is read as the amount it was written as (0.1, not the float nearest it)."""
    assert orders.parse_amount(value, "total") == Decimal(amount)


@pytest.mark.parametrize("total", ["0", "0.00", "-1.00"])
def test_an_order_of_zero_or_less_is_refused_and_stores_nothing(customer, total):
    refusal = _refusal(
        lambda: orders.place_order(customer, total=Decimal(total), items=[], sold_at=None, external_id=None)
    )
    assert refusal == [("total", "must be more than 0")]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_the_smallest_order_is_taken(customer):
    order, summary = orders.place_order(customer, total=Decimal("0.01"), items=[], sold_at=None, external_id=None)
    assert (order.total, order.points, order.cashback, order.status) == (Decimal("0.01"), 0, Decimal("0.00"), "active")
    assert (summary["points"], summary["cashback_balance"]) == (0, Decimal("0.00"))


def test_an_order_placed_outside_any_request_names_no_actor(customer):
    """A command-line or background sale has nobody behind it: the ledger and the trail say so (no one made up)."""
    item = orders.Item("D", Decimal("10.00"), 1)
    order, _ = orders.place_order(customer, total=Decimal("10.00"), items=[item], sold_at=None, external_id=None)
    entry = db.session.scalars(select(LedgerEntry)).one()
    assert (entry.kind, entry.order_pk, entry.actor, entry.amount) == ("order", order.pk, None, Decimal("1.00"))
    created = db.session.scalars(select(Activity).where(Activity.action == "order.created")).one()
    assert (created.actor, created.target) == (None, f"order:{order.id}")


def test_unknown_product_types_are_each_named_under_the_field_given(customer):
    """The ERP feed names them under "products", the API under "items"; known ones are not named."""
    items = [
        orders.Item("A", Decimal("1.00"), 1),
        orders.Item("Y", Decimal("1.00"), 1),
        orders.Item("Z", Decimal("1.00"), 2),
    ]
    assert _refusal(lambda: orders.check_items(items, Decimal("4.00"), field="products")) == [
        ("products.1.type", "is not a known product type ('Y')"),
        ("products.2.type", "is not a known product type ('Z')"),
    ]


def test_no_items_means_no_rates_and_any_total(customer):
    assert orders.check_items([], Decimal("12.34")) == {}
    assert orders.cashback_rates(set()) == {}
    assert orders.customer_ids({None}) == {} and orders.order_ids({None}) == {}


def test_the_key_of_a_customer_is_read_only_for_who_may_see_it(customer):
    """customer_key (the order path's look-up): staff see every record, a customer only their own, no link nothing."""
    from services.context import Principal
    from services.customers import customer_key
    from services.errors import NotFound

    staff = Principal("user", "u1", 1, "staff")
    assert tuple(customer_key("ana", staff)) == (customer.pk, "ana")
    assert tuple(customer_key("ana@example.com", None)) == (customer.pk, "ana")
    assert tuple(customer_key("ana", Principal("user", "u2", 2, "customer", customer_pk=customer.pk))) == (
        customer.pk,
        "ana",
    )
    for viewer in (
        Principal("user", "u3", 3, "customer", customer_pk=customer.pk + 1),
        Principal("user", "u4", 4, "customer", customer_pk=None),
    ):
        with pytest.raises(NotFound):
            customer_key("ana", viewer)
    with pytest.raises(NotFound):
        customer_key("nobody", staff)
