"""The overview's daily sums on the real database, over ledger entries written on chosen UTC days."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from models import Customer, LedgerEntry, db
from models.types import utcnow
from services import stats
from services.errors import InvalidInput

TODAY = date(2026, 11, 22)


def entry(customer: Customer, kind: str, at: datetime, points: int, amount: str) -> LedgerEntry:
    return LedgerEntry(
        customer_pk=customer.pk,
        kind=kind,
        points=points,
        amount=Decimal(amount),
        points_balance=0,
        cashback_balance=Decimal("0"),
        created_at=at,
    )


@pytest.fixture
def ledger(app_context):
    """Entries on both sides of UTC midnights, of every kind, some outside a 7-day window."""
    now = utcnow()
    customer = Customer(id="ana", email="ana@example.com", created_at=now, updated_at=now, points=120)
    db.session.add(customer)
    db.session.flush()
    at = lambda d, h, m=0: datetime(2026, 11, d, h, m, tzinfo=UTC)  # noqa: E731 - a short table below
    rows = [
        entry(customer, "order", at(22, 23, 59), 10, "1.05"),
        entry(customer, "order", at(22, 0, 0), 20, "2.10"),
        entry(customer, "order", at(21, 23, 59), 40, "4.40"),
        entry(customer, "reversal", at(21, 12), -40, "-4.40"),
        entry(customer, "redemption", at(20, 12), 0, "-1.00"),
        entry(customer, "signup_bonus", at(20, 12), 0, "10.00"),
        entry(customer, "order", at(16, 0, 0), 50, "0.55"),
        entry(customer, "order", at(15, 23, 59), 70, "7.77"),
        entry(customer, "order", datetime(2026, 11, 23, 0, 0, tzinfo=UTC), 80, "8.88"),
    ]
    db.session.add_all(rows)
    db.session.commit()
    return rows


def test_each_day_sums_the_order_entries_written_that_utc_day(ledger):
    figures = stats.daily_figures(7, today=TODAY)
    assert [f.day for f in figures] == [TODAY - timedelta(days=n) for n in range(6, -1, -1)]
    by_day = {f.day.day: (f.orders, f.points, f.cashback) for f in figures}
    assert by_day == {
        16: (1, 50, Decimal("0.55")),
        17: (0, 0, Decimal("0.00")),
        18: (0, 0, Decimal("0.00")),
        19: (0, 0, Decimal("0.00")),
        20: (0, 0, Decimal("0.00")),
        21: (1, 40, Decimal("4.40")),
        22: (2, 30, Decimal("3.15")),
    }
    window = [e for e in ledger if e.kind == "order" and TODAY - timedelta(days=6) <= e.created_at.date() <= TODAY]
    assert sum(f.orders for f in figures) == len(window)
    assert sum(f.points for f in figures) == sum(e.points for e in window)
    assert sum(f.cashback for f in figures) == sum(e.amount for e in window)


def test_customers_are_counted_in_the_tier_their_points_reach(ledger):
    db.session.add(Customer(id="bo", email="bo@example.com", created_at=utcnow(), updated_at=utcnow(), points=99))
    db.session.add(Customer(id="cy", email="cy@example.com", created_at=utcnow(), updated_at=utcnow(), points=1000))
    db.session.commit()
    counts = {tier: count for tier, _, count in stats.customers_per_tier()}
    assert counts[None] == 1 and counts["A"] == 1 and counts["J"] == 1
    assert sum(counts.values()) == 3


@pytest.mark.parametrize("days", [0, 367])
def test_days_outside_one_to_366_are_refused(app_context, days):
    with pytest.raises(InvalidInput):
        stats.daily_figures(days)
