"""The activity trail: one entry per sign-in, change of access, and change of data."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, or_, select

from models import Activity, db
from services.context import client_address_var, current_principal, current_request_id
from services.errors import InvalidInput
from services.pagination import decode_cursor, encode_cursor


def record_activity(action: str, target: str | None = None, *, actor: str | None = None, **details) -> None:
    """Add an entry to the session, to be committed with the change it describes."""
    if actor is None:
        principal = current_principal()
        actor = principal.label if principal else None
    db.session.add(
        Activity(
            actor=actor,
            action=action,
            target=target,
            request_id=current_request_id(),
            client_address=client_address_var.get(),
            details=details or None,
        )
    )


@dataclass(frozen=True)
class ActivityFilters:
    day: date | None = None
    actor: str | None = None
    action: str | None = None


def list_activity(filters: ActivityFilters, *, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """Entries, newest first, one keyset page at a time."""
    table = Activity.__table__.c
    statement = select(Activity.__table__)
    if filters.day is not None:
        start = datetime.combine(filters.day, time.min, tzinfo=UTC)
        statement = statement.where(table.at >= start, table.at < start + timedelta(days=1))
    if filters.actor is not None:
        statement = statement.where(table.actor == filters.actor)
    if filters.action is not None:
        statement = statement.where(table.action == filters.action)
    if cursor is not None:
        at, pk = decode_cursor(cursor, "activity", 2)
        try:
            at = datetime.fromisoformat(at)
        except (TypeError, ValueError):
            raise InvalidInput.single("cursor", "is not a cursor returned by this collection") from None
        statement = statement.where(or_(table.at < at, and_(table.at == at, table.pk < pk)))
    rows = db.session.execute(statement.order_by(table.at.desc(), table.pk.desc()).limit(limit + 1)).mappings().all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("activity", [rows[-1]["at"].isoformat(), rows[-1]["pk"]])
    return [dict(row) for row in rows], next_cursor
