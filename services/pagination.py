"""Keyset pages for every collection, with signed opaque cursors.

A cursor is base64url(payload + tag): the payload is compact JSON [ordering name, last row's key values...]
and the tag the first TAG_SIZE bytes of HMAC-SHA256 over it, with a key derived from SECRET_KEY.
"""

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import BigInteger, DateTime, Integer, Select, SmallInteger, String, and_, bindparam, or_
from sqlalchemy.orm.attributes import QueryableAttribute
from sqlalchemy.types import TypeDecorator

from models import db
from services.errors import InvalidInput
from services.settings import current_settings

NOT_A_CURSOR = "is not a cursor returned by this collection"
TAG_SIZE = 16  # 128 bits of HMAC-SHA256: forging stays out of reach, cursors stay short
PAGE_SIZE = "page_size"  # the bound parameter of an ordered statement's LIMIT
INTEGER_BITS = {SmallInteger: 16, BigInteger: 64, Integer: 32}


@dataclass(frozen=True)
class Page:
    items: list  # ORM entities or row mappings, as the statement selects them
    next_cursor: str | None


def not_a_cursor() -> InvalidInput:
    """The one refusal of every bad cursor: forged, edited, truncated, foreign or out of range."""
    return InvalidInput.single("cursor", NOT_A_CURSOR)


@dataclass(frozen=True)
class SortKey:
    """One key of an ordering; NULLs sort after every value, in either direction."""

    column: object  # a Core column or an ORM attribute
    descending: bool
    nullable: bool
    name: str  # the key of the row mapping or the entity attribute holding the value
    check: Callable  # a cursor's JSON value -> the value to compare with; ValueError/TypeError when unfit

    def beyond(self, value):
        """The rows strictly past `value` on this key alone (None when nothing is: NULLs come last)."""
        if value is None:
            return None
        past = self.column < value if self.descending else self.column > value
        return or_(past, self.column.is_(None)) if self.nullable else past

    def level(self, value):
        """The rows tied with `value` on this key."""
        return self.column.is_(None) if value is None else self.column == value


class Ordering:
    """How a collection sorts, described once: a name (kept in its cursors) and its keys, the last the unique one.

    Keys are (column, descending, nullable). Keys that are ORM attributes page ORM entities; Core columns page
    row mappings.
    """

    def __init__(self, name: str, keys: Sequence[tuple[object, bool, bool]]):
        self.name = name
        self.keys = tuple(_sort_key(column, descending, nullable) for column, descending, nullable in keys)
        unique, _, unique_nullable = keys[-1]
        if unique_nullable or not (unique.primary_key and isinstance(_base_type(unique.expression), Integer)):
            raise ValueError(f"ordering {name!r} must end with the integer primary key, not {unique}")
        kinds = {isinstance(column, QueryableAttribute) for column, _, _ in keys}
        if len(kinds) > 1:
            raise ValueError(f"ordering {name!r} mixes ORM attributes and Core columns")
        self.entities = kinds.pop()
        self.order_by = [clause for key in self.keys for clause in _order_clauses(key)]

    def ordered(self, statement: Select) -> Select:
        """The statement in this order, one page (and one row more) at a time: build it once where possible."""
        return statement.order_by(*self.order_by).limit(bindparam(PAGE_SIZE))

    def after(self, values: Sequence):
        """The rows that come after the row with these key values."""
        *leading, (unique, last) = zip(self.keys, values, strict=True)
        condition = unique.beyond(last)
        for key, value in reversed(leading):
            tied = and_(key.level(value), condition)
            beyond = key.beyond(value)
            condition = tied if beyond is None else or_(beyond, tied)
        return condition

    def values_of(self, row) -> list:
        """The key values of a row, as a cursor holds them."""
        if self.entities:
            values = [getattr(row, key.name) for key in self.keys]
        else:
            values = [row[key.name] for key in self.keys]
        return [value.isoformat() if isinstance(value, datetime) else value for value in values]


def keyset_page(statement: Select, ordering: Ordering, *, limit: int, cursor: str | None, signing_key: bytes) -> Page:
    """One page of `statement` (made by ordering.ordered) past the cursor's row, and the cursor of the next."""
    if cursor is not None:
        statement = statement.where(ordering.after(decode_cursor(cursor, ordering, signing_key)))
    parameters = {PAGE_SIZE: limit + 1}
    if ordering.entities:
        rows = db.session.scalars(statement, parameters).all()
    else:
        rows = db.session.connection().execute(statement, parameters).mappings().all()  # Core: no ORM layer to pay
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor(ordering, ordering.values_of(rows[-1]), signing_key))


def encode_cursor(ordering: Ordering, values: list, signing_key: bytes) -> str:
    """The signed cursor of the row with these key values."""
    payload = json.dumps([ordering.name, *values], separators=(",", ":"), ensure_ascii=False).encode()
    return seal(payload, signing_key)


def decode_cursor(cursor: str, ordering: Ordering, signing_key: bytes) -> list:
    """The key values in a cursor this ordering signed, each checked against its column; else a 400 on `cursor`."""
    try:
        payload = json.loads(unseal(cursor, signing_key))
    except ValueError:
        raise not_a_cursor() from None
    if not isinstance(payload, list) or len(payload) != len(ordering.keys) + 1 or payload[0] != ordering.name:
        raise not_a_cursor()
    try:
        return [key.check(value) for key, value in zip(ordering.keys, payload[1:], strict=True)]
    except (TypeError, ValueError, OverflowError):
        raise not_a_cursor() from None


def seal(payload: bytes, signing_key: bytes) -> str:
    """base64url(payload + tag), without padding."""
    tag = hmac.digest(signing_key, payload, hashlib.sha256)[:TAG_SIZE]
    return base64.urlsafe_b64encode(payload + tag).rstrip(b"=").decode()


def unseal(cursor: str, signing_key: bytes) -> bytes:
    """The payload of a sealed cursor; ValueError when it is not one or its tag does not match."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    payload, tag = raw[:-TAG_SIZE], raw[-TAG_SIZE:]
    if not payload or not hmac.compare_digest(tag, hmac.digest(signing_key, payload, hashlib.sha256)[:TAG_SIZE]):
        raise ValueError("not signed with this key")
    return payload


def cursor_signing_key() -> bytes:
    """The key the app being served signs cursors with (every collection pages: read from services.settings)."""
    return signing_key_for(current_settings().secret_key)


@lru_cache(maxsize=4)
def signing_key_for(secret_key: str) -> bytes:
    """A key of its own for cursors, so a cursor tag can never stand for another of SECRET_KEY's signatures."""
    return hmac.digest(secret_key.encode(), b"cursor", hashlib.sha256)


def _sort_key(column, descending: bool, nullable: bool) -> SortKey:
    expression = column.expression
    if expression.nullable and not nullable:
        raise ValueError(f"{expression} holds NULLs: its sort key must say nullable")
    check = _value_check(expression)
    if nullable:
        check = _or_none(check)
    return SortKey(column, descending, nullable, column.key, check)


def _order_clauses(key: SortKey) -> list:
    clauses = [key.column.is_(None)] if key.nullable else []  # false before true: NULLs last
    return [*clauses, key.column.desc() if key.descending else key.column.asc()]


def _base_type(column):
    kind = column.type
    return kind.impl_instance if isinstance(kind, TypeDecorator) else kind


def _value_check(column) -> Callable:
    """How to check a cursor's value for this column, so the database never sees one it cannot hold."""
    kind = _base_type(column)
    if isinstance(kind, Integer):
        bits = next(size for base, size in INTEGER_BITS.items() if isinstance(kind, base))
        return _integer_check(1 if column.primary_key else -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if isinstance(kind, DateTime):
        return _moment
    if isinstance(kind, String):
        return _text
    raise TypeError(f"no cursor check for {column} of type {kind}")


def _integer_check(low: int, high: int) -> Callable:
    def check(value):
        if type(value) is not int or not low <= value <= high:  # bool is an int subclass: refused too
            raise ValueError("not an integer of the column's range")
        return value

    return check


def _moment(value) -> datetime:
    if not isinstance(value, str):
        raise TypeError("not a time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a cursor time carries its offset")
    return moment.astimezone(UTC)  # OverflowError at the ends of the calendar


def _text(value) -> str:
    if not isinstance(value, str) or "\x00" in value:  # PostgreSQL refuses NUL in text
        raise ValueError("not text")
    return value


def _or_none(check: Callable) -> Callable:
    return lambda value: None if value is None else check(value)
