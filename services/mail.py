"""Outgoing mail: the console backend logs each message, the SMTP backend delivers it.

Messages are handed to a small pool of background threads, so a request never waits on the mail
server and its answer time does not reveal whether a mail was sent.
"""

import contextvars
import logging
import smtplib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from config import Settings
from services.settings import current_settings

log = logging.getLogger(__name__)
_outbox = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mail")


@dataclass(frozen=True)
class MailSettings:
    backend: str
    host: str
    port: int
    user: str
    password: str
    starttls: bool
    timeout: int
    sender: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "MailSettings":
        return cls(
            backend=settings.mail_backend,
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout,
            sender=settings.mail_from,
        )


def send_mail(to: str, subject: str, body: str) -> Future:
    """Queue a plain-text message for delivery, with the mail settings of the app being served.

    Mail is sent from many services: they do not pass its settings along, this reads them (services.settings).
    """
    settings = MailSettings.from_settings(current_settings())
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or "localhost")
    message.set_content(body)
    # A pool thread has a context of its own: run the delivery in a copy of the caller's, so its log
    # lines carry the request id (services.context) of the request that sent the mail.
    return _outbox.submit(contextvars.copy_context().run, _deliver, settings, message)


def _deliver(settings: MailSettings, message: EmailMessage) -> None:
    try:
        if settings.backend == "console":
            log.info("mail to %s: %s\n%s", message["To"], message["Subject"], message.get_content())
            return
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls()
            if settings.user:
                smtp.login(settings.user, settings.password)
            smtp.send_message(message)
        log.info("mail delivered to %s: %s", message["To"], message["Subject"])
    except Exception:
        log.exception("mail to %s could not be delivered", message["To"])
        raise
