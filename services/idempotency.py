"""Idempotency keys: the first answer to a POST is kept 24 h and replayed; nothing is created twice.

A request holds its key under a lease that a heartbeat renews while it runs; a request that died (its process
killed) stops renewing it, and a retry after the lease lapsed takes the key over. The commit that carries the
work also marks the claim "carried out", so a retry never does the work a second time, even when the first
request died between that commit and keeping its answer.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, event, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from models import IdempotencyKey, db
from models.types import utcnow
from services.errors import BusinessRuleViolation, Conflict

log = logging.getLogger(__name__)
KEEP_FOR = timedelta(hours=24)
# The kept "answer" of a claim whose work committed before its real answer was kept: a 409 on replay.
CARRIED_OUT = 409
CARRIED_OUT_DETAIL = (
    "The first request with this Idempotency-Key was carried out, but its answer was lost: look the record up."
)
STILL_RUNNING_DETAIL = "A request with this Idempotency-Key is still being handled."


@dataclass(frozen=True)
class Claim:
    """A key held by the request being handled, or (`kept`) the answer of its first use to replay."""

    owner: str
    key: str
    claimed_at: datetime  # tells this claim from a later one that took the key over after its lease lapsed
    kept: tuple[int, dict, dict] | None = None


def claim(owner: str, key: str, fingerprint: str, lease: timedelta) -> Claim:
    """Hold the key for this request for `lease`, or return the kept answer of its first use.

    The claim is committed before the work starts, so a concurrent request with the same key finds it and is
    refused (409) instead of doing the work a second time. A claim whose lease lapsed is taken over.
    """
    for _ in range(2):
        now = utcnow()
        # Kept answers past their 24 h, and claims whose request stopped renewing them: a request still running
        # behind a lapsed lease finds its claim gone when it commits, and is refused (_WorkMarker).
        db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
        kept = db.session.get(IdempotencyKey, (owner, key))
        if kept is not None:
            db.session.commit()
            return _kept(kept, fingerprint)
        db.session.add(
            IdempotencyKey(owner=owner, key=key, fingerprint=fingerprint, created_at=now, expires_at=now + lease)
        )
        try:
            db.session.commit()
            return Claim(owner, key, now)
        except IntegrityError:
            db.session.rollback()  # claimed by a concurrent request a moment ago: read what it holds
    raise Conflict("Idempotency-Key", STILL_RUNNING_DETAIL)


def _kept(entry: IdempotencyKey, fingerprint: str) -> Claim:
    """The kept answer of a key's first use; refused when the request differs, is running, or lost its answer."""
    if entry.fingerprint != fingerprint:
        raise BusinessRuleViolation("this Idempotency-Key was used with a different request")
    if entry.status_code is None:
        raise Conflict("Idempotency-Key", STILL_RUNNING_DETAIL)
    if entry.status_code == CARRIED_OUT and entry.body is None:
        raise Conflict("Idempotency-Key", CARRIED_OUT_DETAIL, "was carried out; its answer was lost")
    return Claim(entry.owner, entry.key, entry.created_at, (entry.status_code, entry.body, entry.headers or {}))


def _this_claim(held: Claim):
    """The condition matching the claim row while `held` still owns it and has kept nothing."""
    return (
        (IdempotencyKey.owner == held.owner)
        & (IdempotencyKey.key == held.key)
        & (IdempotencyKey.created_at == held.claimed_at)
        & IdempotencyKey.status_code.is_(None)
    )


@contextmanager
def held(claim_: Claim, lease: timedelta) -> Iterator[None]:
    """While the block runs: renew the claim's lease, and mark it carried out in the commit that does the work."""
    marker = _WorkMarker(claim_)
    heartbeat = _Heartbeat(db.engine, claim_, lease)
    marker.listen()
    heartbeat.start()
    try:
        yield
    finally:
        heartbeat.stop()
        marker.remove()


class _WorkMarker:
    """Session listeners: the first commit that writes something also marks the claim carried out (24 h)."""

    def __init__(self, claim_: Claim):
        self.claim = claim_
        self.wrote = self.marked = False
        self.session = db.session()

    def listen(self) -> None:
        event.listen(self.session, "after_flush", self._flushed)
        event.listen(self.session, "do_orm_execute", self._executed)
        event.listen(self.session, "before_commit", self._committing)

    def remove(self) -> None:
        event.remove(self.session, "after_flush", self._flushed)
        event.remove(self.session, "do_orm_execute", self._executed)
        event.remove(self.session, "before_commit", self._committing)

    def _flushed(self, _session, _context) -> None:
        self.wrote = True

    def _executed(self, state) -> None:
        self.wrote = self.wrote or state.is_insert or state.is_update or state.is_delete

    def _committing(self, session) -> None:
        session.flush()
        if self.marked or not self.wrote:
            return
        self.marked = True
        marked = session.execute(
            update(IdempotencyKey)
            .where(_this_claim(self.claim))
            .values(status_code=CARRIED_OUT, body=None, headers=None, expires_at=utcnow() + KEEP_FOR)
            .execution_options(synchronize_session=False)
        ).rowcount
        if marked != 1:
            # The lease lapsed and a retry took the key over: this request's work must not be committed too.
            raise Conflict("Idempotency-Key", STILL_RUNNING_DETAIL)


class _Heartbeat:
    """A daemon thread renewing a claim's lease every third of it, on a connection of its own."""

    def __init__(self, engine: Engine, claim_: Claim, lease: timedelta):
        self.engine, self.claim, self.lease = engine, claim_, lease
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="idempotency-lease", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.wait(self.lease.total_seconds() / 3):
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        update(IdempotencyKey).where(_this_claim(self.claim)).values(expires_at=utcnow() + self.lease)
                    )
            except SQLAlchemyError as error:  # the next beat tries again; the lease outlasts two missed beats
                log.warning("could not renew the lease of Idempotency-Key %r: %s", self.claim.key, error)


def remember(held_: Claim, status_code: int, body: dict, headers: dict) -> None:
    """Keep the answer of the request that holds the key (replacing the "carried out" mark), for 24 h."""
    db.session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.owner == held_.owner,
            IdempotencyKey.key == held_.key,
            IdempotencyKey.created_at == held_.claimed_at,
        )
        .values(status_code=status_code, body=body, headers=headers, expires_at=utcnow() + KEEP_FOR)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def release(held_: Claim) -> None:
    """Free the key of a request that failed before its work committed, so the client may retry with it."""
    db.session.rollback()
    db.session.execute(delete(IdempotencyKey).where(_this_claim(held_)))
    db.session.commit()
