"""Outgoing mail: recorded in the database (outgoing_mail), then delivered by a queue task; the console backend
logs each message, the SMTP backend sends it.

A request only records and queues its mail, so it never waits on the mail server and its answer time does not
reveal whether a mail was sent. A delivery the server refuses is tried again MAIL_RETRY_DELAY seconds later, then
twice as long after each failure, up to MAIL_ATTEMPTS attempts; a mail whose worker died is queued again by
housekeeping once the worker's lease lapses. Its body, with the links it carries, is erased once it is sent or
given up.
"""

import contextlib
import logging
import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select, update

from config import Settings
from models import OutgoingMail, db
from models.types import utcnow
from services import tasks
from services.context import current_request_id, request_id_var
from services.errors import Unavailable
from services.settings import current_settings

log = logging.getLogger(__name__)
# A worker holds a mail this many seconds beyond SMTP_TIMEOUT; past that, another one may send it.
LEASE_MARGIN = 5
KEPT = timedelta(days=30)  # how long a sent or given-up mail stays recorded


def send_mail(to: str, subject: str, body: str) -> None:
    """Record a plain-text message and queue its delivery with the mail settings of the app being served.

    Mail is sent from many services, once their work is committed: they do not pass its settings along, this
    reads them (services.settings).
    """
    # The caller's session may have begun a transaction since its commit (reading an expired attribute): end it,
    # for on SQLite a transaction holds the one write lock from its start (app.py) and the mail's would wait on it.
    db.session.commit()
    sender = current_settings().mail_from
    # Chosen now, so each attempt sends the same message (receivers drop a repeated Message-ID).
    message_id = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    # Its own transaction on its own connection: the mail stays recorded whatever the caller's session does next.
    with db.engine.begin() as connection:
        mail_pk = connection.execute(
            insert(OutgoingMail)
            .values(recipient=to, subject=subject, body=body, message_id=message_id, request_id=current_request_id())
            .returning(OutgoingMail.pk)
        ).scalar_one()
    tasks.enqueue_mail(mail_pk)


def _due(now: datetime) -> ColumnElement[bool]:
    """The condition of a mail waiting for an attempt that no worker holds."""
    lease_free = or_(OutgoingMail.lease_expires_at.is_(None), OutgoingMail.lease_expires_at < now)
    return and_(OutgoingMail.status == "queued", OutgoingMail.next_attempt_at <= now, lease_free)


def due_mail_pks() -> list[int]:
    """The mails due that no worker holds (their task was lost, or their worker died)."""
    return list(db.session.scalars(select(OutgoingMail.pk).where(_due(utcnow())).order_by(OutgoingMail.pk)))


def delete_old_mail() -> int:
    """Delete the records of mails sent or given up more than 30 days ago; how many went."""
    return db.session.execute(
        delete(OutgoingMail)
        .where(OutgoingMail.status.in_(("sent", "failed")), OutgoingMail.created_at < utcnow() - KEPT)
        .execution_options(synchronize_session=False)
    ).rowcount


def deliver(mail_pk: int) -> None:
    """Deliver a recorded mail now (the queue's mail task): nothing when it is sent, given up, not due or held.

    Its log lines carry the id of the request that sent it, whoever queued this attempt.
    """
    settings = current_settings()
    mail = _claim(mail_pk, settings.smtp_timeout + LEASE_MARGIN)
    if mail is None:
        return
    token = request_id_var.set(mail.request_id)
    try:
        _attempt(mail, settings)
    finally:
        request_id_var.reset(token)


def _claim(mail_pk: int, seconds: int) -> OutgoingMail | None:
    """Hold the mail with one conditional UPDATE (of two workers, one wins); the mail, or None."""
    now = utcnow()
    claimed = db.session.execute(
        update(OutgoingMail)
        .where(OutgoingMail.pk == mail_pk, _due(now))
        .values(lease_expires_at=now + timedelta(seconds=seconds))
    ).rowcount
    mail = db.session.get(OutgoingMail, mail_pk, populate_existing=True) if claimed else None
    if mail is not None:
        db.session.expunge(mail)  # read as claimed; the commit does not expire it
    db.session.commit()  # no transaction stays open while the mail server is talked to
    return mail


def _attempt(mail: OutgoingMail, settings: Settings) -> None:
    if settings.mail_backend == "console":
        log.info("mail to %s: %s\n%s", mail.recipient, mail.subject, mail.body)
    else:
        try:
            _send(settings, _message(settings.mail_from, mail))
        except (smtplib.SMTPException, OSError) as error:
            _failed(mail, settings, error)
            return
        log.info("mail delivered to %s: %s", mail.recipient, mail.subject)
    _store(mail.pk, status="sent", body=None, attempts=mail.attempts + 1, sent_at=utcnow(), lease_expires_at=None)


def _failed(mail: OutgoingMail, settings: Settings, error: Exception) -> None:
    """Count the attempt: give the mail up after the last one, else queue the next one after its delay."""
    attempts = mail.attempts + 1
    left = settings.mail_attempts - attempts
    values = {"attempts": attempts, "last_error": f"{type(error).__name__}: {error}", "lease_expires_at": None}
    if left <= 0:
        _store(mail.pk, status="failed", body=None, **values)
        log.error("mail to %s could not be delivered; given up", mail.recipient, exc_info=error)
        return
    delay = settings.mail_retry_delay * 2 ** (attempts - 1)
    _store(mail.pk, next_attempt_at=utcnow() + timedelta(seconds=delay), **values)
    log.warning("mail to %s could not be delivered; %d attempts left", mail.recipient, left, exc_info=error)
    with contextlib.suppress(Unavailable):  # logged by tasks; housekeeping queues it once the queue is back
        tasks.enqueue_mail(mail.pk, delay=delay)


def _store(mail_pk: int, **values) -> None:
    """Record how an attempt ended, unless another worker (which took the mail after a lapse) ended it first."""
    db.session.execute(
        update(OutgoingMail).where(OutgoingMail.pk == mail_pk, OutgoingMail.status == "queued").values(**values)
    )
    db.session.commit()


def _message(sender: str, mail: OutgoingMail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Message-ID"] = mail.message_id
    message.set_content(mail.body)
    return message


def _send(settings: Settings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)
