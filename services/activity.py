"""The activity trail: one entry per sign-in, change of access, and change of data."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import insert, select

from models import Activity, db
from models.types import utcnow
from services.context import client_address_var, current_principal, current_request_id
from services.pagination import Ordering, Page, cursor_signing_key, keyset_page


def _entry(action: str, target: str | None, actor: str | None, details: dict) -> dict:
    if actor is None:
        principal = current_principal()
        actor = principal.label if principal else None
    return {
        "actor": actor,
        "action": action,
        "target": target,
        "request_id": current_request_id(),
        "client_address": client_address_var.get(),
        "details": details or None,
    }


def record_activity(action: str, target: str | None = None, *, actor: str | None = None, **details) -> None:
    """Add an entry to the session, to be committed with the change it describes."""
    db.session.add(Activity(**_entry(action, target, actor, details)))


def write_activity(action: str, target: str | None = None, *, actor: str | None = None, **details) -> None:
    """record_activity written at once by a Core INSERT (the caller's transaction), for paths that write nothing
    else through the ORM."""
    db.session.execute(INSERT_ACTIVITY, {**_entry(action, target, actor, details), "at": utcnow()})


@dataclass(frozen=True)
class ActivityFilters:
    day: date | None = None
    actor: str | None = None
    action: str | None = None


ENTRIES = Activity.__table__.c
NEWEST_FIRST = Ordering("activity", [(ENTRIES.at, True, False), (ENTRIES.pk, True, False)])
ACTIVITY_LIST = NEWEST_FIRST.ordered(select(Activity.__table__))
INSERT_ACTIVITY = insert(Activity.__table__)


def list_activity(filters: ActivityFilters, *, limit: int, cursor: str | None) -> Page:
    """Entries (row mappings), newest first, one keyset page at a time."""
    conditions = []
    if filters.day is not None:
        start = datetime.combine(filters.day, time.min, tzinfo=UTC)
        conditions += [ENTRIES.at >= start, ENTRIES.at < start + timedelta(days=1)]
    if filters.actor is not None:
        conditions.append(ENTRIES.actor == filters.actor)
    if filters.action is not None:
        conditions.append(ENTRIES.action == filters.action)
    statement = ACTIVITY_LIST.where(*conditions)
    return keyset_page(statement, NEWEST_FIRST, limit=limit, cursor=cursor, signing_key=cursor_signing_key())
