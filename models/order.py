"""Orders (sales to a customer) and their typed items."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models import Base
from models.rewards import Money
from models.types import UTCDateTime, utcnow


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'reversed')", name="status"),
        CheckConstraint("total > 0", name="total_positive"),
        UniqueConstraint("external_id"),
        Index(None, "customer_pk", "pk"),
        Index(None, "created_at", "pk"),
        {"sqlite_autoincrement": True},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    customer_pk: Mapped[int | None] = mapped_column(ForeignKey("customers.pk", ondelete="SET NULL"))
    total: Mapped[Decimal] = mapped_column(Money)
    points: Mapped[int] = mapped_column(Integer)
    cashback: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16), default="active")
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime)
    external_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("value > 0 AND qty > 0", name="positive"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_pk: Mapped[int] = mapped_column(ForeignKey("orders.pk", ondelete="CASCADE"), index=True)
    # A product type in use cannot be deleted.
    type: Mapped[str] = mapped_column(ForeignKey("product_types.code", ondelete="RESTRICT"), index=True)
    value: Mapped[Decimal] = mapped_column(Money)
    qty: Mapped[int] = mapped_column(Integer)
