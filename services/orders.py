"""Orders: placing one earns points (1 per whole currency unit) and cashback by product type; reversing undoes it."""

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import bindparam, insert, select, update

from models import Customer, Order, OrderItem, ProductType, db
from models.types import utcnow
from services.activity import record_activity, write_activity
from services.context import Principal
from services.database import TimeWindow, by_public_id, unique_conflict, within
from services.errors import BusinessRuleViolation, FieldError, InvalidInput, NotFound
from services.pagination import Ordering, Page, cursor_signing_key, keyset_page
from services.rewards import CENT, apply_to_wallet, credit_wallet, round_money
from services.tokens import new_secret

ORDER_UNIQUE_FIELDS = {"uq_orders_external_id": "external_id"}
# One sale's amount: its points (1 a unit) fit the 32-bit counters, and many fit the balances.
MAX_AMOUNT = Decimal("99999999.99")


def parse_amount(value: str | int | float, field: str) -> Decimal:
    """A money amount of more than 0 and at most MAX_AMOUNT with two places at most, as a string or a JSON number."""
    try:
        # str() first: a JSON number arrives as a float, whose binary value is not the amount written.
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput.single(field, "must be an amount like 12.50") from None
    if not number.is_finite() or number <= 0:
        raise InvalidInput.single(field, "must be more than 0")
    if number > MAX_AMOUNT:
        raise InvalidInput.single(field, f"must be at most {MAX_AMOUNT}")
    if number != number.quantize(CENT):
        raise InvalidInput.single(field, "must have at most two decimal places")
    return number


@dataclass(frozen=True)
class Item:
    type: str
    value: Decimal
    qty: int


# Read in the caller's transaction every time (rates change through the product-types API): a Core statement
# on the session's connection, built once.
SELECT_RATES = select(ProductType.code, ProductType.cashback_percent).where(
    ProductType.code.in_(bindparam("codes", expanding=True))
)


def cashback_rates(codes: set[str]) -> dict[str, Decimal]:
    """The cashback percentage of each known product type among `codes`."""
    if not codes:
        return {}
    rows = db.session.connection().execute(SELECT_RATES, {"codes": sorted(codes)})
    return {code: percent for code, percent in rows}


def check_items(items: list[Item], total: Decimal, field: str = "items") -> dict[str, Decimal]:
    """Refuse unknown types and items that do not add up to the total; return the rates of the types used."""
    rates = cashback_rates({item.type for item in items})
    errors = [
        FieldError(f"{field}.{index}.type", f"is not a known product type ({item.type!r})")
        for index, item in enumerate(items)
        if item.type not in rates
    ]
    if errors:
        raise InvalidInput(errors)
    if items and sum(item.value * item.qty for item in items) != total:
        raise InvalidInput.single("total", "must equal the sum of value x qty of the items")
    return rates


def order_cashback(items: list[Item], rates: dict[str, Decimal]) -> Decimal:
    """sum(rate x value x qty), rounded half-up to cents."""
    return round_money(sum((rates[i.type] / 100 * i.value * i.qty for i in items), Decimal(0)))


ORDERS = Order.__table__
INSERT_ORDER = insert(ORDERS).returning(ORDERS.c.pk)
INSERT_ITEMS = insert(OrderItem.__table__)


@dataclass(frozen=True)
class PlacedOrder:
    """An order just stored, with the values written (what a read-back would give)."""

    pk: int
    id: str
    customer_pk: int
    total: Decimal
    points: int
    cashback: Decimal
    status: str
    sold_at: datetime
    external_id: str | None
    created_at: datetime
    reversed_at: datetime | None
    items: tuple[Item, ...]  # as stored: each value rounded to cents


def add_order(
    customer, *, total: Decimal, items: list[Item], sold_at: datetime | None, external_id: str | None
) -> tuple[PlacedOrder, dict]:
    """Store an order for the customer (anything with its `pk` and public `id`: an ORM Customer or a key row)
    and credit its points and cashback in the session's transaction (not committed).

    Core statements: the order row (its key returned), its items in one
    executemany, the guarded balance UPDATE with its ledger entry, and the activity entry.
    """
    if total <= 0:
        raise InvalidInput.single("total", "must be more than 0")
    rates = check_items(items, total)
    now = utcnow()
    row = {
        "id": new_secret(12),
        "customer_pk": customer.pk,
        "total": round_money(total),
        "points": math.floor(total),
        "cashback": order_cashback(items, rates),
        "status": "active",
        "sold_at": sold_at or now,
        "external_id": external_id,
        "created_at": now,
    }
    # Core statements through the session (not its connection): its do_orm_execute listeners still see each write
    # (an Idempotency-Key's claim is marked carried out by the commit that writes).
    with unique_conflict(ORDER_UNIQUE_FIELDS, "An order with this external_id already exists."):
        order_pk = db.session.execute(INSERT_ORDER, row).scalar_one()
    stored_items = tuple(Item(i.type, round_money(i.value), i.qty) for i in items)
    if stored_items:
        db.session.execute(
            INSERT_ITEMS, [{"order_pk": order_pk, "type": i.type, "value": i.value, "qty": i.qty} for i in stored_items]
        )
    summary = credit_wallet(customer.pk, kind="order", points=row["points"], amount=row["cashback"], order_pk=order_pk)
    write_activity("order.created", f"order:{row['id']}", customer=customer.id, total=str(row["total"]))
    return PlacedOrder(pk=order_pk, reversed_at=None, items=stored_items, **row), summary


def place_order(customer, **order) -> tuple[PlacedOrder, dict]:
    """Store an order and commit; an external_id seen before is a Conflict."""
    result = add_order(customer, **order)
    db.session.commit()
    return result


def reverse_order(order_id: str) -> tuple[Order, dict | None]:
    """Undo a sale with compensating ledger entries; 422 when it is already reversed."""
    order = order_from_id(order_id)
    # Claiming the reversal is one conditional UPDATE: two concurrent reversals cannot both pass.
    claimed = db.session.execute(
        update(Order)
        .where(Order.pk == order.pk, Order.status == "active")
        .values(status="reversed", reversed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        raise BusinessRuleViolation("the order is already reversed")
    summary = None
    if order.customer_pk is not None:
        _, summary = apply_to_wallet(
            order.customer_pk, kind="reversal", points=-order.points, amount=-order.cashback, order_pk=order.pk
        )
    record_activity("order.reversed", f"order:{order.id}")
    db.session.commit()
    db.session.refresh(order)
    return order, summary


def order_from_id(order_id: str, viewer: Principal | None = None) -> Order:
    """The order with this public id (a customer sees only their own)."""
    order = by_public_id(Order, order_id, "order")
    if viewer is not None and not viewer.may_see(order.customer_pk):
        raise NotFound(f"No order {order_id!r}.")
    return order


def order_items(order_pks: list[int]) -> dict[int, list[OrderItem]]:
    """The items of each order."""
    grouped: dict[int, list[OrderItem]] = {pk: [] for pk in order_pks}
    if order_pks:
        for item in db.session.scalars(
            select(OrderItem).where(OrderItem.order_pk.in_(order_pks)).order_by(OrderItem.pk)
        ):
            grouped[item.order_pk].append(item)
    return grouped


@dataclass(frozen=True)
class OrderFilters:
    customer_pk: int | None = None
    status: str | None = None
    window: TimeWindow = TimeWindow()


NEWEST_ORDERS_FIRST = Ordering("orders", [(Order.pk, True, False)])
ORDER_LIST = NEWEST_ORDERS_FIRST.ordered(select(Order))


def list_orders(filters: OrderFilters, *, limit: int, cursor: str | None) -> Page:
    """Orders newest first, one keyset page at a time."""
    conditions = []
    if filters.customer_pk is not None:
        conditions.append(Order.customer_pk == filters.customer_pk)
    if filters.status is not None:
        conditions.append(Order.status == filters.status)
    conditions += within(Order.sold_at, filters.window)
    statement = ORDER_LIST.where(*conditions)
    return keyset_page(statement, NEWEST_ORDERS_FIRST, limit=limit, cursor=cursor, signing_key=cursor_signing_key())


def customer_ids(pks: set[int | None]) -> dict[int, str]:
    """Public ids of the customers with these keys."""
    pks = {pk for pk in pks if pk is not None}
    if not pks:
        return {}
    return dict(db.session.execute(select(Customer.pk, Customer.id).where(Customer.pk.in_(pks))).all())


def order_ids(pks: set[int | None]) -> dict[int, str]:
    """Public ids of the orders with these keys."""
    pks = {pk for pk in pks if pk is not None}
    if not pks:
        return {}
    return dict(db.session.execute(select(Order.pk, Order.id).where(Order.pk.in_(pks))).all())
