"""Sales pushed by the ERP, kept with what the partner cashback API answered."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models import Base
from models.rewards import Money
from models.types import Expiring, UTCDateTime, utcnow


class ErpSale(Base):
    __tablename__ = "erp_sales"
    __table_args__ = (
        CheckConstraint("status IN ('sent', 'failed', 'not_forwarded')", name="status"),
        Index(None, "document", "customer_pk"),
        Index(None, "status", "pk"),
        {"sqlite_autoincrement": True},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    document: Mapped[str] = mapped_column(String(11))
    name: Mapped[str] = mapped_column(String(128))
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime)
    total: Mapped[Decimal] = mapped_column(Money)
    cashback: Mapped[Decimal] = mapped_column(Money)
    products: Mapped[list] = mapped_column(JSON)
    # Null until a customer with this document exists; then the sale becomes one of their orders.
    customer_pk: Mapped[int | None] = mapped_column(ForeignKey("customers.pk", ondelete="SET NULL"))
    order_pk: Mapped[int | None] = mapped_column(ForeignKey("orders.pk", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    partner: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyKey(Expiring, Base):
    """The first answer to a POST carrying an Idempotency-Key, replayed for 24 h."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index(None, "expires_at"),)

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[dict | None] = mapped_column(JSON)
    headers: Mapped[dict | None] = mapped_column(JSON)
