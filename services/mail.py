"""Outgoing mail: the console backend logs each message, the SMTP backend delivers it.

Messages are queued (services.tasks) and delivered in the background, so a request never waits on the mail
server and its answer time does not reveal whether a mail was sent; a delivery the server refuses is tried
again later, a few times.
"""

import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from config import Settings
from services import tasks
from services.settings import current_settings

log = logging.getLogger(__name__)


def send_mail(to: str, subject: str, body: str) -> None:
    """Queue a plain-text message for delivery with the mail settings of the app being served.

    Mail is sent from many services: they do not pass its settings along, this reads them (services.settings).
    """
    sender = current_settings().mail_from
    # Chosen now, so each attempt sends the same message (receivers drop a repeated Message-ID).
    message_id = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    tasks.enqueue_mail(to, subject, body, message_id)


def deliver(to: str, subject: str, body: str, message_id: str, *, attempts_left: int) -> None:
    """Deliver one message now (the queue's mail task); raise when the server cannot be reached or refuses it."""
    settings = current_settings()
    if settings.mail_backend == "console":
        log.info("mail to %s: %s\n%s", to, subject, body)
        return
    try:
        _send(settings, _message(settings.mail_from, to, subject, body, message_id))
    except (smtplib.SMTPException, OSError):
        if attempts_left:
            log.warning("mail to %s could not be delivered; %d attempts left", to, attempts_left, exc_info=True)
        else:
            log.error("mail to %s could not be delivered; given up", to, exc_info=True)
        raise
    log.info("mail delivered to %s: %s", to, subject)


def _message(sender: str, to: str, subject: str, body: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(body)
    return message


def _send(settings: Settings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)
