"""The wallet on the real database, for what no HTTP request reaches: a redemption of 0 or less, a change made
outside any request, and the figures a summary gives between the tiers."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import Customer, LedgerEntry, db
from models.types import utcnow
from services import rewards
from services.errors import BusinessRuleViolation, InvalidInput


@pytest.fixture
def customer(app_context):
    now = utcnow()
    record = Customer(
        id="ana", email="ana@example.com", created_at=now, updated_at=now, cashback_balance=Decimal("5.00")
    )
    db.session.add(record)
    db.session.commit()
    return record


@pytest.mark.parametrize("amount", ["0", "0.00", "-1.00"])
def test_a_redemption_of_zero_or_less_is_refused_and_spends_nothing(customer, amount):
    with pytest.raises(InvalidInput) as refused:
        rewards.redeem(customer, Decimal(amount))
    assert [(e.field, e.message) for e in refused.value.errors] == [("amount", "must be more than 0")]
    db.session.rollback()
    assert db.session.get(Customer, customer.pk).cashback_balance == Decimal("5.00")
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_a_redemption_of_the_whole_balance_leaves_zero(customer):
    entry, summary = rewards.redeem(customer, Decimal("5.00"))
    assert (entry.kind, entry.amount, entry.cashback_balance, entry.actor) == (
        "redemption",
        Decimal("-5.00"),
        Decimal("0.00"),
        None,
    )
    assert summary["cashback_balance"] == Decimal("0.00")
    with pytest.raises(BusinessRuleViolation, match="^insufficient balance$"):
        rewards.redeem(customer, Decimal("0.01"))


@pytest.mark.parametrize(
    ("points", "tier", "next_tier", "progress"),
    [(0, None, "A", 0.0), (1, None, "A", 0.01), (333, "C", "D", 0.33), (950, "I", "J", 0.5), (1000, "J", None, None)],
)
def test_a_summary_gives_the_band_and_the_progress_inside_it(app_context, points, tier, next_tier, progress):
    summary = rewards.rewards_summary(points, Decimal("1.005"))
    assert (summary["tier"], summary["next_tier"], summary["next_tier_progress"]) == (tier, next_tier, progress)
    assert summary["cashback_balance"] == Decimal("1.01")  # half-up


def test_each_database_s_tiers_are_its_own(app, settings, tmp_path):
    """Tiers are read once per database: an app on another database with other tiers places customers by its own."""
    from app import create_app
    from models import Tier

    with app.app.app_context():
        assert rewards.rewards_summary(120, Decimal(0))["tier"] == "A"  # this app's tiers, now read and kept
    other = create_app({**settings, "DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}"})
    try:
        with other.app.app_context():
            db.session.execute(Tier.__table__.update().where(Tier.tier == "A").values(points=150))
            db.session.commit()
            summary = rewards.rewards_summary(120, Decimal(0))
            assert (summary["tier"], summary["next_tier"], summary["next_tier_progress"]) == (None, "A", 0.8)
        with app.app.app_context():
            assert rewards.rewards_summary(120, Decimal(0))["tier"] == "A"
    finally:
        with other.app.app_context():
            db.session.remove()
            db.engine.dispose()
