"""What the services share about the database: the conditions of a time window, finding a record by its public id,
and reading a unique violation as a Conflict on the field its constraint guards."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import UniqueConstraint, inspect, select
from sqlalchemy.exc import IntegrityError

from models import db
from services.errors import Conflict, NotFound

PG_UNIQUE_VIOLATION = "23505"
SQLITE_UNIQUE_FAILED = "UNIQUE constraint failed: "


@dataclass(frozen=True)
class TimeWindow:
    """From `start` inclusive to `end` exclusive, either side open when None."""

    start: datetime | None = None
    end: datetime | None = None


def within(column, window: TimeWindow) -> list:
    """The conditions that keep `column` inside the window."""
    conditions = []
    if window.start is not None:
        conditions.append(column >= window.start)
    if window.end is not None:
        conditions.append(column < window.end)
    return conditions


def by_public_id(model, public_id: str, label: str, *, fresh: bool = False):
    """The `model` record with this public id (its `id` column, or the primary key of a model without one).

    NotFound names it as `label`. `fresh` reloads a record this session already holds.
    """
    mapper = inspect(model)
    key = mapper.columns["id"] if "id" in mapper.columns else mapper.primary_key[0]
    statement = select(model).where(key == public_id)
    if fresh:
        statement = statement.execution_options(populate_existing=True)
    found = db.session.scalars(statement).first()
    if found is None:
        raise NotFound(f"No {label} {public_id!r}.")
    return found


@cache
def _constraints_by_columns() -> dict[str, str]:
    """SQLite's column list of each unique constraint ("customers.account_id, customers.phone_number") -> its name."""
    names = {}
    for table in db.metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint):
                columns = ", ".join(f"{table.name}.{column.name}" for column in constraint.columns)
                names[columns] = str(constraint.name)
    return names


def unique_violation_field(exc: IntegrityError, fields: dict[str, str]) -> str | None:
    """The field a unique violation clashes on, or None when the error is something else or its constraint is not
    in `fields`, which maps constraint names (uq_<table>_<columns>, models.NAMING_CONVENTION) to fields."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None:  # PostgreSQL (psycopg) names the constraint
        unique = exc.orig.sqlstate == PG_UNIQUE_VIOLATION
        return fields.get(diag.constraint_name or "") if unique else None
    message = str(exc.orig)  # SQLite lists its columns: "UNIQUE constraint failed: users.email"
    if not message.startswith(SQLITE_UNIQUE_FAILED):
        return None
    constraint = _constraints_by_columns().get(message.removeprefix(SQLITE_UNIQUE_FAILED).strip())
    return fields.get(constraint or "")


@contextmanager
def unique_conflict(fields: dict[str, str], detail: str) -> Iterator[None]:
    """Around a flush or commit: a unique violation on one of `fields` rolls back and becomes Conflict(field, detail).

    `detail` may name the field as {field}. Any other IntegrityError rolls back and propagates.
    """
    try:
        yield
    except IntegrityError as exc:
        db.session.rollback()
        field = unique_violation_field(exc, fields)
        if field is None:
            raise
        raise Conflict(field, detail.format(field=field)) from None
