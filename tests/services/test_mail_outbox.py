"""Mail is recorded in the database before it is queued: delivered and marked sent with its body erased, tried
again with backoff and given up, and delivered by another worker when the one holding it died."""

import uuid
from datetime import timedelta

from sqlalchemy import select

from models import OutgoingMail, db
from models.types import utcnow
from services import mail, tasks
from tests.api.test_cashback_queue import wait_until
from tests.conftest import free_port


def new_address() -> str:
    return f"outbox-{uuid.uuid4().hex[:8]}@example.com"


def stored_mail(address: str) -> OutgoingMail | None:
    """The mail to this address as stored now, read in a transaction that is over (SQLite: no lock held)."""
    found = db.session.scalars(select(OutgoingMail).where(OutgoingMail.recipient == address)).one_or_none()
    if found is not None:
        db.session.expunge(found)
    db.session.rollback()
    return found


def recorded_mail(address: str, **values) -> int:
    """A mail recorded as send_mail records it, with these column values, and no task queued for it."""
    row = OutgoingMail(recipient=address, subject="Held", body="the link", message_id=f"<{uuid.uuid4().hex}@t>")
    for name, value in values.items():
        setattr(row, name, value)
    db.session.add(row)
    db.session.commit()
    return row.pk


def test_a_mail_is_recorded_delivered_and_marked_sent_with_its_body_erased(app_context, mailbox):
    """The queued task delivers the recorded message; the row says sent, counts one attempt and keeps no link."""
    address = new_address()
    mail.send_mail(address, "Your link", "open http://customers.test/reset?token=secret\n")
    received = mailbox.wait_for(address, "Your link")
    assert "token=secret" in received.get_content()
    sent = wait_until(lambda: (m := stored_mail(address)).status == "sent" and m, 10, "the mail marked sent")
    assert (sent.body, sent.attempts, sent.last_error, sent.lease_expires_at) == (None, 1, None, None)
    assert sent.message_id == received["Message-ID"]
    assert sent.sent_at is not None


def test_a_refused_mail_is_tried_again_later_then_given_up_with_its_body_erased(app_context, use_settings):
    """Nothing listens on the SMTP port: the first failure is counted and the next attempt pushed back by
    MAIL_RETRY_DELAY; after MAIL_ATTEMPTS the mail is failed, its error kept and its body gone."""
    use_settings(smtp_port=free_port(), mail_attempts=2, mail_retry_delay=2)
    address = new_address()
    mail.send_mail(address, "Refused", "the link")
    first = wait_until(lambda: (m := stored_mail(address)).attempts >= 1 and m, 10, "the first attempt")
    assert (first.status, first.body, first.lease_expires_at) == ("queued", "the link", None)
    assert first.next_attempt_at >= first.created_at + timedelta(seconds=2)
    failed = wait_until(lambda: (m := stored_mail(address)).status == "failed" and m, 15, "the mail given up")
    assert (failed.attempts, failed.body, failed.sent_at) == (2, None, None)
    assert "Connection" in failed.last_error
    tasks.housekeeping()
    assert stored_mail(address).status == "failed"  # nothing queues it again


def test_a_mail_whose_holder_died_is_delivered_by_the_next_housekeeping_round(app_context, mailbox):
    """A mail claimed by a worker that died (its lease lapsed, its task gone) is queued again and delivered once;
    one whose holder is still within its lease is left alone."""
    dead, alive = new_address(), new_address()
    dead_pk = recorded_mail(dead, lease_expires_at=utcnow() - timedelta(seconds=1))
    alive_pk = recorded_mail(alive, lease_expires_at=utcnow() + timedelta(minutes=5))
    requeued = tasks.housekeeping()["mail"]
    assert alive_pk not in requeued
    assert dead_pk in requeued or stored_mail(dead).status == "sent"  # (the app's own round may have come first)
    mailbox.wait_for(dead, "Held")
    sent = wait_until(lambda: (m := stored_mail(dead)).status == "sent" and m, 10, "the mail marked sent")
    assert (sent.attempts, sent.body) == (1, None)
    assert len(mailbox.to(dead)) == 1
    assert (stored_mail(alive).status, mailbox.to(alive)) == ("queued", [])


def test_sent_and_given_up_mail_records_go_after_30_days(app_context):
    """Housekeeping deletes sent and failed mails older than 30 days; queued and recent ones stay."""
    old = utcnow() - timedelta(days=31)
    addresses = {name: new_address() for name in ("old-sent", "old-failed", "old-queued", "new-sent")}
    recorded_mail(addresses["old-sent"], status="sent", body=None, created_at=old)
    recorded_mail(addresses["old-failed"], status="failed", body=None, created_at=old)
    recorded_mail(addresses["old-queued"], created_at=old, lease_expires_at=utcnow() + timedelta(minutes=5))
    recorded_mail(addresses["new-sent"], status="sent", body=None)
    tasks.housekeeping()
    kept = {name for name, address in addresses.items() if stored_mail(address) is not None}
    assert kept == {"old-queued", "new-sent"}
