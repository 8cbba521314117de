"""Reward tiers, product types with their cashback rates, and the append-only ledger."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from models import Base
from models.types import UTCDateTime, utcnow

Money = Numeric(12, 2)


class Tier(Base):
    __tablename__ = "tiers"

    tier: Mapped[str] = mapped_column(String(1), primary_key=True)
    points: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(64))


class ProductType(Base):
    __tablename__ = "product_types"
    __table_args__ = (CheckConstraint("cashback_percent >= 0 AND cashback_percent <= 100", name="percent"),)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    cashback_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(Base):
    """One change of a customer's points and/or cashback, with the balances right after it."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('order', 'reversal', 'redemption', 'signup_bonus')", name="kind"),
        Index(None, "customer_pk", "pk"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Erasing a customer keeps their financial history, detached from the person.
    customer_pk: Mapped[int | None] = mapped_column(ForeignKey("customers.pk", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)
    points_balance: Mapped[int] = mapped_column(Integer)
    cashback_balance: Mapped[Decimal] = mapped_column(Money)
    order_pk: Mapped[int | None] = mapped_column(ForeignKey("orders.pk", ondelete="RESTRICT"), index=True)
    actor: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
