"""Opaque keyset cursors: the sort they belong to and the last row's key, base64url-encoded JSON."""

import base64
import binascii
import json

from models import db
from services.errors import InvalidInput


def encode_cursor(sort: str, key: list) -> str:
    """Wrap the last row's sort key so the next page can start right after it."""
    raw = json.dumps([sort, *key], separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, sort: str, size: int) -> list:
    """Unwrap a cursor made by encode_cursor for the same sort; anything else is a 400 on `cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidInput.single("cursor", "is not a cursor returned by this collection") from None
    if not isinstance(payload, list) or len(payload) != size + 1:
        raise InvalidInput.single("cursor", "is not a cursor returned by this collection")
    if payload[0] != sort:
        raise InvalidInput.single("cursor", f"belongs to sort {payload[0]!r}, not {sort!r}")
    return payload[1:]


def newest_first_page(statement, key, *, name: str, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """One page of ORM rows ordered by `key` (an integer column) descending, and the cursor of the next."""
    if cursor is not None:
        (before,) = decode_cursor(cursor, name, 1)
        if not isinstance(before, int) or isinstance(before, bool):
            raise InvalidInput.single("cursor", "is not a cursor returned by this collection")
        statement = statement.where(key < before)
    rows = list(db.session.scalars(statement.order_by(key.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(name, [getattr(rows[limit - 1], key.key)]) if len(rows) > limit else None
    return rows[:limit], next_cursor
