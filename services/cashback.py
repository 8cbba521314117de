"""The ERP sales feed: validate a sale, make it an order of the customer with that CPF (or keep it until one
exists), and forward the cashback to the partner API, keeping its answer for reconciliation."""

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import select, update

from config import Settings
from models import Customer, ErpSale, db
from models.types import utcnow
from services.activity import record_activity
from services.customer_rules import normalise_document
from services.database import TimeWindow, by_public_id, within
from services.errors import BusinessRuleViolation, Conflict, FieldError, InvalidInput
from services.orders import Item, add_order, check_items, order_cashback, parse_amount
from services.pagination import Ordering, Page, cursor_signing_key, keyset_page
from services.tokens import new_secret

log = logging.getLogger(__name__)
SPACES = re.compile(r"\s+")
# An ERP clock a little ahead of ours is not a sale in the future.
CLOCK_SKEW = timedelta(minutes=5)
# The layouts the ERP writes a sale's time in (UTC); ISO 8601 with an offset is taken too.
ERP_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def comparable_name(name: str) -> str:
    """A name without case, accents or extra spaces."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return SPACES.sub(" ", bare).strip().casefold()


@dataclass(frozen=True)
class Sale:
    document: str
    name: str
    sold_at: datetime
    total: Decimal
    items: list[Item]


def erp_time(value: str, field: str) -> datetime:
    """The ERP's sale time: ISO 8601, or "YYYY-MM-DD HH:MM:SS" (UTC when no offset is given)."""
    for layout in ERP_TIME_FORMATS:
        try:
            return datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput.single(field, "must be a date and time like 2026-11-22 10:30:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def sale_from_feed(body: dict) -> Sale:
    """A sale as the ERP sends it: amounts as strings or JSON numbers, its time in the ERP's layouts."""
    products = body["products"]
    items = [Item(p["type"], parse_amount(p["value"], f"products.{n}.value"), p["qty"]) for n, p in enumerate(products)]
    return Sale(
        document=body["customer"]["document"],
        name=body["customer"]["name"],
        sold_at=erp_time(body["sold_at"], "sold_at"),
        total=parse_amount(body["total"], "total"),
        items=items,
    )


def receive_sale(body: dict, settings: Settings) -> ErpSale:
    """Take a sale from the feed: record it (committed), then forward its cashback to the partner."""
    stored = record_sale(sale_from_feed(body))
    return forward(stored.id, settings)


def check_sale(sale: Sale) -> tuple[str, Decimal]:
    """Validate a sale (400 naming the field); return the CPF digits and the cashback it earns."""
    errors = []
    try:
        document = normalise_document(sale.document)
    except ValueError as exc:
        errors.append(FieldError("customer.document", str(exc)))
        document = None
    if sale.sold_at > utcnow() + CLOCK_SKEW:
        errors.append(FieldError("sold_at", "must not be in the future"))
    if not sale.name.strip():
        errors.append(FieldError("customer.name", "must not be blank"))
    if errors:
        raise InvalidInput(errors)
    rates = check_items(sale.items, sale.total, field="products")
    return document, order_cashback(sale.items, rates)


def record_sale(sale: Sale) -> ErpSale:
    """Store a sale and, when a customer has its document and its name, the order it becomes (committed)."""
    document, cashback = check_sale(sale)
    customer = db.session.scalars(select(Customer).where(Customer.document == document)).first()
    if customer is not None:
        _check_name(customer, sale.name)
    record = ErpSale(
        id=new_secret(12),
        document=document,
        name=sale.name.strip(),
        sold_at=sale.sold_at,
        total=sale.total,
        cashback=cashback,
        products=[{"type": i.type, "value": f"{i.value:.2f}", "qty": i.qty} for i in sale.items],
        status="not_forwarded",
        attempts=0,
    )
    db.session.add(record)
    db.session.flush()
    if customer is not None and name_on_record(customer):
        _assign(record, customer)
    record_activity("sale.received", f"sale:{record.id}", document=document, total=str(sale.total))
    db.session.commit()
    return record


def name_on_record(customer: Customer) -> str:
    """The customer's "first_name last_name", comparable; empty when no name is on record."""
    return comparable_name(" ".join(part for part in (customer.first_name, customer.last_name) if part))


def _check_name(customer: Customer, name: str) -> None:
    on_record = name_on_record(customer)
    if on_record and on_record != comparable_name(name):
        raise BusinessRuleViolation("the document belongs to a customer with another name")


def _assign(sale: ErpSale, customer: Customer) -> None:
    items = [Item(p["type"], Decimal(p["value"]), p["qty"]) for p in sale.products]
    order, _ = add_order(customer, total=sale.total, items=items, sold_at=sale.sold_at, external_id=f"erp:{sale.id}")
    sale.customer_pk = customer.pk
    sale.order_pk = order.pk
    sale.updated_at = utcnow()


def credit_unassigned_sales(customer: Customer) -> int:
    """Turn the kept sales with this customer's document and name into their orders (flushed, not committed).

    Both must match: a CPF alone is no proof (it is typed by whoever sets it), and a customer with no name
    on record receives nothing by itself; staff attach such sales by hand.
    """
    name = name_on_record(customer)
    if customer.document is None or not name:
        return 0
    waiting = db.session.scalars(
        select(ErpSale)
        .where(ErpSale.document == customer.document, ErpSale.customer_pk.is_(None), ErpSale.order_pk.is_(None))
        .order_by(ErpSale.pk)
    ).all()
    matching = [sale for sale in waiting if comparable_name(sale.name) == name]
    for sale in matching:
        _assign(sale, customer)
        record_activity("sale.assigned", f"sale:{sale.id}", customer=customer.id)
    return len(matching)


def assign_sale(sale_id: str, customer: Customer) -> ErpSale:
    """Attach an unattached sale to a customer by hand: it becomes their order (committed)."""
    sale = sale_from_id(sale_id)
    # One conditional UPDATE takes the sale, so two concurrent attachments cannot both win.
    taken = db.session.execute(
        update(ErpSale)
        .where(ErpSale.pk == sale.pk, ErpSale.customer_pk.is_(None), ErpSale.order_pk.is_(None))
        .values(customer_pk=customer.pk)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        db.session.rollback()
        raise Conflict("sale_id", "The sale is already attached to a customer.", "is already attached")
    _assign(sale, customer)
    record_activity("sale.assigned", f"sale:{sale.id}", customer=customer.id, by_hand=True)
    db.session.commit()
    return sale


ERASED_NAME = "(erased)"
ERASED_DOCUMENT = "00000000000"  # not a valid CPF, so it can never match a customer again


def forget_sales_of(customer: Customer) -> None:
    """Remove the person from their sales (name and CPF); amounts, orders and the partner's answer stay."""
    db.session.execute(
        update(ErpSale)
        .where(ErpSale.customer_pk == customer.pk)
        .values(name=ERASED_NAME, document=ERASED_DOCUMENT, updated_at=utcnow())
    )


def forward(sale_id: str, settings: Settings) -> ErpSale:
    """Send {"document", "cashback"} to CASHBACK_API_URL and keep the answer; no transaction is open meanwhile."""
    url = settings.cashback_api_url
    sale = sale_from_id(sale_id)
    if not url:
        return sale
    payload = {"document": sale.document, "cashback": f"{sale.cashback:.2f}"}
    db.session.commit()  # end the read transaction before waiting on the partner
    timeout = float(settings.cashback_api_timeout)
    partner, error = None, None
    try:
        response = httpx.post(url, json=payload, timeout=timeout)
        answer = response.json() if response.status_code == 201 else None
        if isinstance(answer, dict):
            partner = {k: answer.get(k) for k in ("id", "message", "createdAt")}
        elif response.status_code == 201:
            error = f"HTTP 201 without a JSON object: {response.text[:500]}"
        else:
            error = f"HTTP {response.status_code}: {response.text[:500]}"
    except (httpx.HTTPError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
    sale = sale_from_id(sale_id)
    sale.attempts += 1
    sale.updated_at = utcnow()
    if partner is not None:
        sale.status, sale.partner, sale.last_error = "sent", partner, None
    else:
        sale.status, sale.last_error = "failed", error
        log.warning("cashback of sale %s not forwarded: %s", sale.id, error)
    record_activity("sale.forwarded" if partner else "sale.forward_failed", f"sale:{sale.id}", attempt=sale.attempts)
    db.session.commit()
    return sale


def retry(sale_id: str, settings: Settings) -> ErpSale:
    """Send a failed (or never sent) sale again; a sale already sent is a 422."""
    sale = sale_from_id(sale_id)
    if sale.status == "sent":
        raise BusinessRuleViolation("the sale was already sent to the partner")
    if not settings.cashback_api_url:
        raise BusinessRuleViolation("CASHBACK_API_URL is not set: there is no partner to send to")
    record_activity("sale.retried", f"sale:{sale.id}")
    db.session.commit()
    return forward(sale_id, settings)


def failed_sale_ids() -> list[str]:
    """The ids of every sale whose forwarding failed."""
    return list(db.session.scalars(select(ErpSale.id).where(ErpSale.status == "failed").order_by(ErpSale.pk)))


def sale_from_id(sale_id: str) -> ErpSale:
    """The sale with this public id."""
    return by_public_id(ErpSale, sale_id, "sale")


@dataclass(frozen=True)
class SaleFilters:
    status: str | None = None
    document: str | None = None
    window: TimeWindow = TimeWindow()
    assigned: bool | None = None


NEWEST_SALES_FIRST = Ordering("sales", [(ErpSale.pk, True, False)])
SALE_LIST = NEWEST_SALES_FIRST.ordered(select(ErpSale))


def list_sales(filters: SaleFilters, *, limit: int, cursor: str | None) -> Page:
    """Sales newest first, one keyset page at a time."""
    conditions = []
    if filters.status:
        conditions.append(ErpSale.status == filters.status)
    if filters.document:
        conditions.append(ErpSale.document == "".join(ch for ch in filters.document if ch.isdigit()))
    conditions += within(ErpSale.sold_at, filters.window)
    if filters.assigned is not None:
        # An erased customer's sale keeps its order: it is not waiting for anyone.
        conditions.append(ErpSale.order_pk.is_not(None) if filters.assigned else ErpSale.order_pk.is_(None))
    statement = SALE_LIST.where(*conditions)
    return keyset_page(statement, NEWEST_SALES_FIRST, limit=limit, cursor=cursor, signing_key=cursor_signing_key())
