"""The ERP sales feed: validate a sale, make it an order of the customer with that CPF (or keep it until one
exists), and forward the cashback to the partner API, keeping its answer for reconciliation."""

import asyncio
import json
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
from services import tasks
from services.activity import record_activity
from services.customer_rules import normalise_document
from services.database import TimeWindow, by_public_id, within
from services.errors import BusinessRuleViolation, Conflict, FieldError, InvalidInput, Unavailable
from services.metrics import record_forward
from services.orders import Item, add_order, check_items, order_cashback, parse_amount
from services.pagination import Ordering, Page, cursor_signing_key, keyset_page
from services.tokens import new_secret

log = logging.getLogger(__name__)
SPACES = re.compile(r"\s+")
# An ERP clock a little ahead of ours is not a sale in the future.
CLOCK_SKEW = timedelta(minutes=5)
# The layouts the ERP writes a sale's time in (UTC); ISO 8601 with an offset is taken too.
ERP_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
# The database writes around one partner call, in a forward's lease (forward_lease).
FORWARD_WRITES = timedelta(seconds=5)
ANSWER_LIMIT = 64 * 1024  # bytes of the partner's answer read at most
DUE_BATCH = 500  # sales housekeeping queues again at a time


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
    """Take a sale from the feed: record it (committed), then forward its cashback to the partner once, now.

    A failed forward is retried automatically in the background (forward)."""
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


def forward_lease(settings: Settings) -> timedelta:
    """How long one attempt holds its sale: the partner call (its deadline, and one read past it) and the writes
    around it. An attempt older than that lost its worker: the sale may be taken again."""
    call = settings.cashback_api_deadline + settings.cashback_api_timeout
    return timedelta(seconds=float(call)) + FORWARD_WRITES


def in_flight(sale: ErpSale, settings: Settings) -> bool:
    """A worker took the sale for an attempt it has not finished yet (its lease has not lapsed)."""
    taken = sale.status != "sent" and sale.attempts > 0 and sale.last_error is None
    return taken and utcnow() < sale.updated_at + forward_lease(settings)


def retry_delay(attempt: int, settings: Settings) -> timedelta:
    """From the failure of attempt `attempt` to the next automatic one: CASHBACK_RETRY_DELAY, doubling each time."""
    return timedelta(seconds=settings.cashback_retry_delay * 2 ** (attempt - 1))


def next_attempt_at(sale: ErpSale, settings: Settings) -> datetime | None:
    """When the next automatic attempt of the sale is due; None when it is sent or its attempts are used up."""
    if sale.status == "sent" or sale.attempts >= settings.cashback_forward_attempts:
        return None
    if sale.last_error is None:  # never tried, or an attempt in flight: due once its lease lapsed
        return sale.updated_at + forward_lease(settings)
    return sale.updated_at + retry_delay(sale.attempts, settings)


def due_sale_ids(settings: Settings) -> list[str]:
    """Sales whose automatic attempt is due: their task was lost (a killed worker, a queue outage), or they were
    kept while CASHBACK_API_URL was empty. Oldest first, DUE_BATCH at a time."""
    if not settings.cashback_api_url:
        return []
    now = utcnow()
    earliest = min(retry_delay(1, settings), forward_lease(settings))
    waiting = db.session.scalars(
        select(ErpSale)
        .where(
            ErpSale.status != "sent",
            ErpSale.attempts < settings.cashback_forward_attempts,
            ErpSale.updated_at <= now - earliest,
        )
        .order_by(ErpSale.pk)
        .limit(DUE_BATCH)
    ).all()
    return [sale.id for sale in waiting if next_attempt_at(sale, settings) <= now]


def forward(sale_id: str, settings: Settings, *, automatic: bool = False) -> ErpSale:
    """Send {"document", "cashback"} to CASHBACK_API_URL and keep the answer; a failure is retried automatically.

    Nothing is sent when the sale is sent or being sent, nor, for an automatic attempt, before it is due. The
    sale is taken with one conditional UPDATE first, so two workers never send it at once; no transaction is open
    while the partner answers.
    """
    sale = sale_from_id(sale_id)
    due = next_attempt_at(sale, settings)
    skip = automatic and (due is None or utcnow() < due)
    if not settings.cashback_api_url or sale.status == "sent" or in_flight(sale, settings) or skip:
        db.session.commit()
        return sale
    payload = {"document": sale.document, "cashback": f"{sale.cashback:.2f}"}
    attempt = _take(sale)
    if attempt is None:
        return sale_from_id(sale_id)
    partner, error = _ask_partner(settings, payload, sale_id)
    return _keep_answer(sale_id, attempt, partner, error, settings)


def _take(sale: ErpSale) -> int | None:
    """Take the sale for its next attempt (committed): the attempt's number, or None when another worker took it."""
    attempt = sale.attempts + 1
    taken = db.session.execute(
        update(ErpSale)
        .where(ErpSale.pk == sale.pk, ErpSale.attempts == sale.attempts, ErpSale.status != "sent")
        .values(attempts=attempt, last_error=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return attempt if taken == 1 else None


def _ask_partner(settings: Settings, payload: dict, sale_id: str) -> tuple[dict | None, str | None]:
    """The partner's answer (its id, message and createdAt), or why there is none."""
    try:
        status, text = _post_within_deadline(settings, payload, sale_id)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:1000]
    if status != 201:
        return None, f"HTTP {status}: {text[:500]}"
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return None, f"HTTP 201 without a JSON object: {text[:500]}"
    return {k: answer.get(k) for k in ("id", "message", "createdAt")}, None


def _post_within_deadline(settings: Settings, payload: dict, sale_id: str) -> tuple[int, str]:
    """POST the payload and read the whole answer, given up once CASHBACK_API_DEADLINE has passed.

    CASHBACK_API_TIMEOUT bounds the connection and each wait for data; the deadline bounds the whole call, its
    status line and headers included, so a partner dripping its answer a byte at a time cannot hold a worker.
    The sale id goes along as Idempotency-Key: a partner that honours it takes a sale sent twice (a retry after a
    lost answer) once.
    """
    deadline = float(settings.cashback_api_deadline)
    try:
        # An event loop of its own for this call (handlers and queue workers run in threads without one):
        # cancelling the coroutine at the deadline stops the call wherever it waits.
        return asyncio.run(asyncio.wait_for(_post(settings, payload, sale_id), deadline))
    except TimeoutError:
        raise httpx.ReadTimeout(f"no whole answer within the deadline of {deadline:g} s") from None


async def _post(settings: Settings, payload: dict, sale_id: str) -> tuple[int, str]:
    timeout = min(float(settings.cashback_api_timeout), float(settings.cashback_api_deadline))
    answer = bytearray()
    async with (
        httpx.AsyncClient(timeout=timeout) as http,
        http.stream("POST", settings.cashback_api_url, json=payload, headers={"Idempotency-Key": sale_id}) as response,
    ):
        async for chunk in response.aiter_bytes():
            answer += chunk
            if len(answer) >= ANSWER_LIMIT:
                break
    return response.status_code, answer.decode("utf-8", "replace")


def _keep_answer(sale_id: str, attempt: int, partner: dict | None, error: str | None, settings: Settings) -> ErpSale:
    """Record the attempt's outcome (unless a later attempt took the sale over) and, after a failure, queue the
    next automatic attempt while attempts are left."""
    values = {"status": "sent", "partner": partner} if partner else {"status": "failed", "last_error": error}
    kept = db.session.execute(
        update(ErpSale)
        .where(ErpSale.id == sale_id, ErpSale.attempts == attempt)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if kept == 1:
        action = "sale.forwarded" if partner else "sale.forward_failed"
        record_activity(action, f"sale:{sale_id}", attempt=attempt)
    db.session.commit()
    if kept == 1 and partner is None:
        log.warning("cashback of sale %s not forwarded: %s", sale_id, error)
        if attempt < settings.cashback_forward_attempts:
            record_forward("retry")
            _queue_retry(sale_id, attempt, settings)
        else:
            record_forward("failed")
            log.warning("sale %s failed after %d attempts: left for reconciliation", sale_id, attempt)
    elif kept == 1:
        record_forward("sent")
    return by_public_id(ErpSale, sale_id, "sale", fresh=True)


def _queue_retry(sale_id: str, attempt: int, settings: Settings) -> None:
    delay = retry_delay(attempt, settings).total_seconds()
    try:
        tasks.enqueue_forward(sale_id, delay)
    except Unavailable:
        log.warning("retry of sale %s not queued: housekeeping will find it once it is due", sale_id)


def retry(sale_id: str, settings: Settings) -> ErpSale:
    """Send a failed (or never sent) sale again now, whatever its automatic attempts; a sale already sent, or
    being sent right now, is a 422."""
    sale = sale_from_id(sale_id)
    if sale.status == "sent":
        raise BusinessRuleViolation("the sale was already sent to the partner")
    if not settings.cashback_api_url:
        raise BusinessRuleViolation("CASHBACK_API_URL is not set: there is no partner to send to")
    if in_flight(sale, settings):
        raise BusinessRuleViolation("the sale is being sent to the partner right now")
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
