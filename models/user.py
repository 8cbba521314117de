"""People who sign in: users, their sessions and refresh tokens, and one-time tokens mailed to them."""

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models import Base
from models.types import Expiring, UTCDateTime, utcnow

ROLES = ("admin", "staff", "customer", "integration")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'staff', 'customer', 'integration')", name="role"),
        {"sqlite_autoincrement": True},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    # Erasing the customer erases the person's credentials with it.
    customer_pk: Mapped[int | None] = mapped_column(ForeignKey("customers.pk", ondelete="CASCADE"), unique=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserSession(Expiring, Base):
    """One sign-in: every refresh token issued from it belongs to it, so reuse can end them all."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk", ondelete="CASCADE"), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    client_address: Mapped[str | None] = mapped_column(String(64))


class RefreshToken(Expiring, Base):
    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OneTimeToken(Expiring, Base):
    """A mailed token, kept only as a SHA-256 hash.

    Purposes: reset (choose a new password), verify (confirm the address of an account whose customer record
    it created), claim (confirm the address and choose a password, linking the account to the customer
    record that already had this address), email (move the account to the new address in `email`).
    """

    __tablename__ = "one_time_tokens"
    __table_args__ = (
        CheckConstraint("purpose IN ('reset', 'verify', 'claim', 'email')", name="purpose"),
        Index(None, "user_pk", "purpose"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
