"""The overview's figures: customers per tier, and per UTC day the orders, points earned and cashback credited."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select

from models import Customer, LedgerEntry, db
from models.types import utcnow
from services.errors import InvalidInput
from services.rewards import round_money, tiers

MAX_DAYS = 366


@dataclass(frozen=True)
class DayFigures:
    day: date
    orders: int
    points: int
    cashback: Decimal


def customers_per_tier() -> list[tuple[str | None, str | None, int]]:
    """(tier, tier name, customers) for each tier, lowest first, led by those below every tier when any."""
    levels = tiers()
    # Highest threshold first, so the first band a customer reaches is their tier.
    whens = [(Customer.points >= level.points, level.tier) for level in reversed(levels)]
    band = case(*whens, else_=None) if whens else func.nullif("", "")
    counts = dict(db.session.execute(select(band, func.count()).select_from(Customer).group_by(band)).all())
    rows = [(level.tier, level.name, counts.get(level.tier, 0)) for level in levels]
    if counts.get(None):
        rows.insert(0, (None, None, counts[None]))
    return rows


def daily_figures(days: int, today: date | None = None) -> list[DayFigures]:
    """The last `days` UTC days, oldest first, today included: what orders credited to wallets each day."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput.single("days", f"must be from 1 to {MAX_DAYS}")
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(today + timedelta(days=1), time(), UTC)
    # Timestamps are stored as naive UTC, so the database's date() is the UTC day on SQLite and PostgreSQL alike.
    day = func.date(LedgerEntry.created_at)
    rows = db.session.execute(
        select(day, func.count(), func.coalesce(func.sum(LedgerEntry.points), 0), func.sum(LedgerEntry.amount))
        .where(LedgerEntry.kind == "order", LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
        .group_by(day)
    ).all()
    found = {str(row[0])[:10]: row for row in rows}
    figures = []
    for offset in range(days):
        current = first + timedelta(days=offset)
        row = found.get(current.isoformat())
        if row is None:
            figures.append(DayFigures(current, 0, 0, Decimal("0.00")))
        else:
            figures.append(DayFigures(current, row[1], int(row[2]), round_money(Decimal(str(row[3] or 0)))))
    return figures
