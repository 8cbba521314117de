"""Points, tiers and the cashback wallet: every change is one guarded UPDATE plus a ledger entry."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from sqlalchemy import BigInteger, bindparam, cast, insert, select, update

from models import Customer, LedgerEntry, Tier, db
from models.types import utcnow
from services import mail
from services.activity import record_activity
from services.context import current_principal
from services.database import TimeWindow, within
from services.errors import BusinessRuleViolation, InvalidInput
from services.pagination import Ordering, Page, cursor_signing_key, keyset_page

CENT = Decimal("0.01")
# The largest balances the columns hold: points are 32-bit integers, cashback NUMERIC(12, 2).
MAX_POINTS = 2**31 - 1
MAX_BALANCE = Decimal("9999999999.99")


@dataclass(frozen=True)
class TierInfo:
    tier: str
    points: int
    name: str


@lru_cache(maxsize=8)
def _tiers_cached(engine) -> tuple[TierInfo, ...]:
    rows = db.session.execute(select(Tier.tier, Tier.points, Tier.name).order_by(Tier.points)).all()
    return tuple(TierInfo(*row) for row in rows)


def tiers() -> tuple[TierInfo, ...]:
    """The tiers, lowest first (seeded by a migration; read once per database engine)."""
    return _tiers_cached(db.engine)


CUSTOMERS = Customer.__table__.c
# Summed as 64-bit, so the guard itself cannot overflow the 32-bit column it protects.
_NEW_POINTS = cast(CUSTOMERS.points, BigInteger) + bindparam("points", type_=BigInteger)
_NEW_BALANCE = CUSTOMERS.cashback_balance + bindparam("amount", type_=Customer.cashback_balance.type)
GUARDED_UPDATE = (
    update(Customer.__table__)
    .where(
        CUSTOMERS.pk == bindparam("customer_pk"),
        _NEW_BALANCE.between(0, MAX_BALANCE),
        _NEW_POINTS.between(0, MAX_POINTS),
    )
    .values(points=_NEW_POINTS, cashback_balance=_NEW_BALANCE)
    .returning(CUSTOMERS.points, CUSTOMERS.cashback_balance)
)
INSERT_LEDGER_ENTRY = insert(LedgerEntry.__table__)


def round_money(value: Decimal) -> Decimal:
    """Round half-up to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def rewards_summary(points: int, cashback_balance: Decimal) -> dict:
    """Points, tier, the next tier and the progress inside the current band, and the cashback balance."""
    return dict(_summary(tiers(), points, cashback_balance))


@lru_cache(maxsize=4096)
def _summary(levels: tuple[TierInfo, ...], points: int, cashback_balance: Decimal) -> tuple:
    # Pages repeat the same few (points, balance) pairs; the tiers are part of the key.
    current = None
    for level in levels:
        if points >= level.points:
            current = level
    following = next((level for level in levels if level.points > points), None)
    if following is None:
        progress = None
    else:
        floor = current.points if current else 0
        progress = round((points - floor) / (following.points - floor), 4)
    return (
        ("points", points),
        ("tier", current.tier if current else None),
        ("tier_name", current.name if current else None),
        ("next_tier", following.tier if following else None),
        ("next_tier_name", following.name if following else None),
        ("next_tier_progress", progress),
        ("cashback_balance", round_money(cashback_balance)),
    )


def _change_balances(customer_pk: int, points: int, amount: Decimal):
    """The guarded UPDATE: the new (points, cashback_balance) row, or BusinessRuleViolation with nothing changed."""
    new_balances = db.session.execute(
        GUARDED_UPDATE, {"customer_pk": customer_pk, "points": points, "amount": amount}
    ).first()
    if new_balances is None:
        gaining = points >= 0 and amount >= 0
        raise BusinessRuleViolation(
            "the balance would exceed the largest one kept" if gaining else "insufficient balance"
        )
    return new_balances


def _ledger_values(
    customer_pk: int, kind: str, points: int, amount: Decimal, order_pk: int | None, new_balances
) -> dict:
    principal = current_principal()
    return {
        "customer_pk": customer_pk,
        "kind": kind,
        "points": points,
        "amount": amount,
        "order_pk": order_pk,
        "points_balance": new_balances.points,
        "cashback_balance": round_money(new_balances.cashback_balance),
        "actor": principal.label if principal else None,
    }


def apply_to_wallet(
    customer_pk: int, *, kind: str, points: int, amount: Decimal, order_pk: int | None = None
) -> tuple[LedgerEntry, dict]:
    """Add points and cashback (either may be negative) in one guarded UPDATE and write the ledger entry.

    The balance check and the change are the same statement, so concurrent writers can never take the
    balance below zero; a refusal raises BusinessRuleViolation and changes nothing. The entry is added to the
    session (written with its next flush).
    """
    amount = round_money(amount)
    new_balances = _change_balances(customer_pk, points, amount)
    entry = LedgerEntry(**_ledger_values(customer_pk, kind, points, amount, order_pk, new_balances))
    db.session.add(entry)
    return entry, rewards_summary(new_balances.points, new_balances.cashback_balance)


def credit_wallet(customer_pk: int, *, kind: str, points: int, amount: Decimal, order_pk: int | None = None) -> dict:
    """apply_to_wallet with the ledger entry written at once by a Core INSERT (same transaction); the summary."""
    amount = round_money(amount)
    new_balances = _change_balances(customer_pk, points, amount)
    values = _ledger_values(customer_pk, kind, points, amount, order_pk, new_balances)
    db.session.execute(INSERT_LEDGER_ENTRY, {**values, "created_at": utcnow()})
    return rewards_summary(new_balances.points, new_balances.cashback_balance)


def open_wallet(customer: Customer, bonus: Decimal) -> None:
    """Credit `bonus` (SIGNUP_BONUS_CASHBACK) to a customer just created (flushed, same transaction)."""
    if bonus > 0:
        apply_to_wallet(customer.pk, kind="signup_bonus", points=0, amount=bonus)


def redeem(customer: Customer, amount: Decimal) -> tuple[LedgerEntry, dict]:
    """Spend cashback; 422 "insufficient balance" when it cannot be covered."""
    if amount <= 0:
        raise InvalidInput.single("amount", "must be more than 0")
    entry, summary = apply_to_wallet(customer.pk, kind="redemption", points=0, amount=-amount)
    record_activity("cashback.redeemed", f"customer:{customer.id}", amount=str(round_money(amount)))
    db.session.commit()
    return entry, summary


@dataclass(frozen=True)
class LedgerFilters:
    kind: str | None = None
    window: TimeWindow = TimeWindow()


NEWEST_ENTRIES_FIRST = Ordering("ledger", [(LedgerEntry.pk, True, False)])
LEDGER_LIST = NEWEST_ENTRIES_FIRST.ordered(select(LedgerEntry))


def ledger_page(customer_pk: int, filters: LedgerFilters, *, limit: int, cursor: str | None) -> Page:
    """A customer's ledger entries, newest first, one keyset page at a time."""
    conditions = [LedgerEntry.customer_pk == customer_pk]
    if filters.kind:
        conditions.append(LedgerEntry.kind == filters.kind)
    conditions += within(LedgerEntry.created_at, filters.window)
    statement = LEDGER_LIST.where(*conditions)
    return keyset_page(statement, NEWEST_ENTRIES_FIRST, limit=limit, cursor=cursor, signing_key=cursor_signing_key())


def send_statement(customer: Customer) -> None:
    """Mail the customer their points, tier and cashback balance; 422 when they have no email."""
    if not customer.email:
        raise BusinessRuleViolation("the customer has no email address")
    summary = rewards_summary(customer.points, customer.cashback_balance)
    tier = f"tier {summary['tier']} ({summary['tier_name']})" if summary["tier"] else "no tier yet"
    following = (
        f"{summary['next_tier']} at {next(t.points for t in tiers() if t.tier == summary['next_tier'])} points"
        if summary["next_tier"]
        else "the top tier"
    )
    greeting = f"Hello {customer.first_name}," if customer.first_name else "Hello,"
    record_activity("customer.statement_sent", f"customer:{customer.id}")
    db.session.commit()
    mail.send_mail(
        customer.email,
        "Your rewards statement",
        f"{greeting}\n\nYou have {summary['points']} points: {tier}. Next: {following}.\n"
        f"Your cashback balance is {summary['cashback_balance']:.2f}.\n",
    )
