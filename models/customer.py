"""The customer (member) record."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models import Base
from models.types import UTCDateTime, utcnow

ID_MAX = 64
EMAIL_MAX = 254
NAME_MAX = 64
PHONE_MAX = 16
CLIENT_MEMBER_ID_MAX = 32


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("account_id", "phone_number"),
        UniqueConstraint("account_id", "client_member_id"),
        Index(None, "created_at", "pk"),
        Index(None, "last_name", "pk"),
        Index(None, "points", "pk"),
        # Balances change only through single UPDATE statements guarded by this rule.
        CheckConstraint("cashback_balance >= 0", name="cashback_not_negative"),
        # Never reuse the key of a deleted row: history rows may still point at it.
        {"sqlite_autoincrement": True},
    )

    # The integer key stays internal (joins, keyset tie-breaks); `id` is the public identifier.
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(ID_MAX), unique=True)
    email: Mapped[str | None] = mapped_column(String(EMAIL_MAX), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    last_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    phone_number: Mapped[str | None] = mapped_column(String(PHONE_MAX))
    client_member_id: Mapped[str | None] = mapped_column(String(CLIENT_MEMBER_ID_MAX))
    account_id: Mapped[int | None] = mapped_column(Integer)
    document: Mapped[str | None] = mapped_column(String(11), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped by every UPDATE, which the ORM guards with "WHERE version = <read version>":
    # two writers that read the same version cannot both win.
    version: Mapped[int] = mapped_column(Integer)
    # Lifetime reward points and the cashback wallet; the ledger holds every change to them.
    points: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cashback_balance: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"), server_default="0")

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<Customer {self.id}>"
