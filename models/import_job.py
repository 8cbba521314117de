"""Bulk import jobs: what was asked, how far it got, who works on it, and every rejected row."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models import Base
from models.types import UTCDateTime, utcnow


class ImportJob(Base):
    __tablename__ = "import_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="status"),
        CheckConstraint("mode IN ('best_effort', 'atomic')", name="mode"),
        Index(None, "status", "lease_expires_at"),  # housekeeping looks for lapsed leases
        {"sqlite_autoincrement": True},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    mode: Mapped[str] = mapped_column(String(16))
    on_conflict: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list] = mapped_column(JSON, default=list)  # the first IMPORT_REPORT_MAX_ERRORS, by line
    # [{"field", "message", "count"}] over every error, the most frequent first
    error_counts: Mapped[list] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    detail: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The worker running the job holds it until lease_expires_at and renews it while it works.
    lease_holder: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where the next row starts after the last committed batch (lines read, byte offset): a resumed job goes on there.
    next_line: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))


class ImportRowError(Base):
    """One problem of a rejected row: the full list behind a report, read back in line order."""

    __tablename__ = "import_row_errors"
    __table_args__ = (
        Index(None, "import_pk", "line", "pk"),
        {"sqlite_autoincrement": True},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_pk: Mapped[int] = mapped_column(ForeignKey("import_jobs.pk", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(Text)
