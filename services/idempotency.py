"""Idempotency keys: the first answer to a POST is kept 24 h and replayed; nothing is created twice."""

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from models import IdempotencyKey, db
from models.types import utcnow
from services.errors import BusinessRuleViolation, Conflict

KEEP_FOR = timedelta(hours=24)


def claim(owner: str, key: str, fingerprint: str) -> IdempotencyKey | None:
    """Reserve the key for this request (None), or return the kept answer of its first use.

    The reservation is committed before the work starts, so a concurrent request with the same key
    finds it and is refused instead of doing the work a second time.
    """
    for _ in range(2):
        db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow()))
        kept = db.session.get(IdempotencyKey, (owner, key))
        if kept is not None:
            db.session.commit()
            if kept.fingerprint != fingerprint:
                raise BusinessRuleViolation("this Idempotency-Key was used with a different request")
            if kept.status_code is None:
                raise Conflict("Idempotency-Key", "A request with this Idempotency-Key is still being handled.")
            return kept
        db.session.add(IdempotencyKey(owner=owner, key=key, fingerprint=fingerprint, expires_at=utcnow() + KEEP_FOR))
        try:
            db.session.commit()
            return None
        except IntegrityError:
            db.session.rollback()  # claimed by a concurrent request a moment ago: read what it holds
    raise Conflict("Idempotency-Key", "A request with this Idempotency-Key is still being handled.")


def remember(owner: str, key: str, status_code: int, body: dict, headers: dict) -> None:
    """Keep the answer of the request that claimed the key."""
    kept = db.session.get(IdempotencyKey, (owner, key))
    if kept is not None:
        kept.status_code, kept.body, kept.headers = status_code, body, headers
        db.session.commit()


def release(owner: str, key: str) -> None:
    """Free the key of a request that failed, so the client may retry with it."""
    db.session.rollback()
    db.session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.owner == owner, IdempotencyKey.key == key, IdempotencyKey.status_code.is_(None)
        )
    )
    db.session.commit()


def kept_answer(entry: IdempotencyKey) -> tuple[int, dict, dict]:
    """The status, body and headers kept for a key."""
    return entry.status_code, entry.body, entry.headers or {}
