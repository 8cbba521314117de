"""Customer records: look-up, listing with keyset pages, and writes guarded by the database."""

import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm.exc import StaleDataError

from models import Customer, db
from models.types import utcnow
from services.activity import record_activity
from services.cashback import credit_unassigned_sales, forget_sales_of
from services.context import Principal
from services.customer_rules import CONTACT_FIELDS, MUTABLE_FIELDS, SELF_SERVICE_FIELDS, email_key, normalise_phone
from services.database import unique_conflict
from services.errors import Forbidden, InvalidInput, NotFound, PreconditionFailed
from services.pagination import Ordering, Page, cursor_signing_key, keyset_page
from services.rewards import open_wallet

COLUMNS = Customer.__table__.c
RECORD_COLUMNS = [c for c in COLUMNS if c.key != "pk"]

# Sort name -> its ordering; ties always break on the internal key.
SORTS = {
    sort: Ordering(f"customers:{sort}", [(column, descending, nullable), (COLUMNS.pk, descending, False)])
    for sort, column, descending, nullable in (
        ("created_at", COLUMNS.created_at, False, False),
        ("-created_at", COLUMNS.created_at, True, False),
        ("email", COLUMNS.email, False, True),
        ("last_name", COLUMNS.last_name, False, True),
        ("-points", COLUMNS.points, True, False),
    )
}

# Unique constraint -> the field a duplicate is reported on.
UNIQUE_FIELDS = {
    "uq_customers_id": "id",
    "uq_customers_email": "email",
    "uq_customers_document": "document",
    "uq_customers_account_id_phone_number": "phone_number",
    "uq_customers_account_id_client_member_id": "client_member_id",
}

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SELECT_BY_ID = select(COLUMNS.pk, *RECORD_COLUMNS).where(COLUMNS.id == db.bindparam("ref"))
SELECT_BY_EMAIL = select(COLUMNS.pk, *RECORD_COLUMNS).where(COLUMNS.email == db.bindparam("ref"))
KEY_BY_ID = select(COLUMNS.pk, COLUMNS.id).where(COLUMNS.id == db.bindparam("ref"))
KEY_BY_EMAIL = select(COLUMNS.pk, COLUMNS.id).where(COLUMNS.email == db.bindparam("ref"))


@dataclass(frozen=True)
class CustomerFilters:
    account_id: int | None = None
    phone_number: str | None = None
    client_member_id: str | None = None
    email: str | None = None
    document: str | None = None
    q: str | None = None


def _ref_statement(ref: str):
    return SELECT_BY_EMAIL if "@" in ref else SELECT_BY_ID


def _ref_value(ref: str) -> str:
    return email_key(ref) if "@" in ref else ref


def _visible(pk: int | None, viewer: Principal | None) -> bool:
    """Customers see only their own record; staff and admins see every one."""
    return viewer is None or viewer.may_see(pk)


def _check_self_service(customer: Customer, changes: dict, viewer: Principal | None) -> None:
    """A customer changes only their own contact details; their email moves through /auth/email, the rest is staff's."""
    if viewer is None or viewer.role != "customer":
        return
    for field, value in changes.items():
        if field not in SELF_SERVICE_FIELDS and getattr(customer, field) != value:
            how = " (use POST /api/auth/email)" if field == "email" else ""
            raise Forbidden(f"A customer may not change their {field}{how}.", field)


def get_customer(ref: str, viewer: Principal | None = None) -> dict:
    """The record of the customer with this id or email, as a dict of column values."""
    # A Core statement on the session's connection: the ORM's execution layer adds nothing to a plain read.
    row = db.session.connection().execute(_ref_statement(ref), {"ref": _ref_value(ref)}).mappings().first()
    if row is None or not _visible(row["pk"], viewer):
        raise NotFound(f"No customer {ref!r}.")
    return dict(row)


def customer_from_ref(ref: str, viewer: Principal | None = None, *, field: str | None = None) -> Customer:
    """The ORM object of the customer with this id or email, for writing.

    Unknown is a 404, or a 400 on `field` when the reference came in a request body.
    """
    condition = Customer.email == _ref_value(ref) if "@" in ref else Customer.id == ref
    customer = db.session.scalars(select(Customer).where(condition)).first()
    if customer is None or not _visible(customer.pk, viewer):
        if field is not None:
            raise InvalidInput.single(field, "is not a customer on record")
        raise NotFound(f"No customer {ref!r}.")
    return customer


def customer_key(ref: str, viewer: Principal | None = None):
    """The (pk, id) row of the customer with this id or email, for writes that need no more of the record.

    Unknown, or not visible to `viewer`, is a 404 (as customer_from_ref).
    """
    statement = KEY_BY_EMAIL if "@" in ref else KEY_BY_ID
    row = db.session.connection().execute(statement, {"ref": _ref_value(ref)}).first()
    if row is None or not _visible(row.pk, viewer):
        raise NotFound(f"No customer {ref!r}.")
    return row


def list_customers(filters: CustomerFilters, *, sort: str, limit: int, cursor: str | None, phone_region: str) -> Page:
    """One keyset page of customers (row mappings) matching every given filter."""
    statement = ORDERED_LISTS[sort]
    conditions = filter_conditions(filters, phone_region)
    if conditions:
        statement = statement.where(*conditions)
    return keyset_page(statement, SORTS[sort], limit=limit, cursor=cursor, signing_key=cursor_signing_key())


# Built once per sort: the statement of an unfiltered first page is reused as it is.
ORDERED_LISTS = {sort: ordering.ordered(select(COLUMNS.pk, *RECORD_COLUMNS)) for sort, ordering in SORTS.items()}


def filter_conditions(filters: CustomerFilters, phone_region: str) -> list:
    """The WHERE conditions of the collection filters (the phone number normalised first)."""
    conditions = []
    if filters.account_id is not None:
        conditions.append(COLUMNS.account_id == filters.account_id)
    if filters.phone_number is not None:
        try:
            phone = normalise_phone(filters.phone_number, phone_region)
        except ValueError as exc:
            raise InvalidInput.single("phone_number", str(exc)) from None
        conditions.append(COLUMNS.phone_number == phone)
    if filters.client_member_id is not None:
        conditions.append(COLUMNS.client_member_id == filters.client_member_id.strip())
    if filters.email is not None:
        conditions.append(COLUMNS.email == email_key(filters.email))
    if filters.document is not None:
        digits = "".join(ch for ch in filters.document if ch.isdigit())
        conditions.append(COLUMNS.document == digits)
    if filters.q is not None:
        pattern = _escape_like(filters.q.strip().lower()) + "%"
        searched = (COLUMNS.first_name, COLUMNS.last_name, COLUMNS.email)
        conditions.append(or_(*(func.lower(c).like(pattern, escape="\\") for c in searched)))
    return conditions


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _require_contact(values: dict) -> None:
    if not any(values.get(field) is not None for field in CONTACT_FIELDS):
        raise InvalidInput.single("body", "a customer needs at least one of " + ", ".join(CONTACT_FIELDS))


def _check_if_match(customer: Customer, if_match: frozenset[str] | None) -> None:
    """None: any version will do; otherwise the record's version tag must be one of the tags given."""
    if if_match is not None and version_tag(record_of(customer)) not in if_match:
        raise PreconditionFailed("The customer changed since it was read (If-Match does not match its ETag).")


def version_tag(record: dict) -> str:
    """A strong ETag that changes on every write of the record (and differs across re-creations)."""
    micros = (record["updated_at"] - EPOCH) // timedelta(microseconds=1)
    version = record["version"]
    return f'"{version}-{micros:x}"'


def record_of(customer: Customer) -> dict:
    """The column values of an ORM customer, shaped like the rows get_customer returns."""
    return {c.key: getattr(customer, c.key) for c in RECORD_COLUMNS}


@contextmanager
def _refusals_from_the_database():
    """Turn a unique violation into a Conflict naming the field, and a lost version race into a 412."""
    try:
        with unique_conflict(UNIQUE_FIELDS, "Another customer already has this {field}."):
            yield
    except StaleDataError:
        db.session.rollback()
        raise PreconditionFailed("The customer changed while this request was being handled.") from None


def _commit(customer: Customer) -> dict:
    with _refusals_from_the_database():
        db.session.commit()
    return record_of(customer)


def _flush(customer: Customer) -> None:
    """Write pending changes now (to get keys or hit constraints early)."""
    with _refusals_from_the_database():
        db.session.flush()


def create_customer(values: dict, *, signup_bonus: Decimal) -> dict:
    """Store a new customer, `signup_bonus` in its wallet; a duplicate key is a Conflict naming the field."""
    _require_contact(values)
    now = utcnow()
    customer = Customer(
        id=values.get("id") or secrets.token_urlsafe(12),
        **{k: v for k, v in values.items() if k != "id"},
        created_at=now,
        updated_at=now,
    )
    db.session.add(customer)
    _flush(customer)
    open_wallet(customer, signup_bonus)
    credit_unassigned_sales(customer)
    record_activity("customer.created", f"customer:{customer.id}")
    return _commit(customer)


def update_customer(
    ref: str, changes: dict, *, replace: bool, if_match: frozenset[str] | None, viewer: Principal | None = None
) -> dict:
    """Apply changes (PATCH) or replace every mutable field (PUT); updated_at moves if anything changed."""
    customer = customer_from_ref(ref, viewer)
    _check_if_match(customer, if_match)
    if replace:
        # A customer's PUT replaces what they may change and leaves the rest as it is.
        replaced = MUTABLE_FIELDS if viewer is None or viewer.role != "customer" else SELF_SERVICE_FIELDS
        changes = {field: changes.get(field) for field in replaced} | {
            field: value for field, value in changes.items() if field not in replaced
        }
    _check_self_service(customer, changes, viewer)
    merged = record_of(customer) | changes
    _require_contact(merged)
    changed = [field for field, value in changes.items() if getattr(customer, field) != value]
    if not changed:
        db.session.rollback()
        return merged
    for field in changed:
        setattr(customer, field, changes[field])
    # Never let two successive versions share a timestamp, even within one clock tick.
    customer.updated_at = max(utcnow(), customer.updated_at + timedelta(microseconds=1))
    if customer.document is not None and {"document", "first_name", "last_name"} & set(changed):
        _flush(customer)  # one UPDATE (one version) before the kept sales are looked up
        credit_unassigned_sales(customer)
    record_activity("customer.updated", f"customer:{customer.id}", fields=changed)
    return _commit(customer)


def delete_customer(ref: str, *, if_match: frozenset[str] | None, viewer: Principal | None = None) -> None:
    """Erase the customer (and, through the database, their credentials and sessions)."""
    customer = customer_from_ref(ref, viewer)
    _check_if_match(customer, if_match)
    forget_sales_of(customer)
    record_activity("customer.deleted", f"customer:{customer.id}")
    db.session.delete(customer)
    _commit(customer)
