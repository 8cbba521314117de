"""Mail log lines, written by the queue's workers, carry the request id of the request that sent the mail."""

import json
import logging
import time

import pytest

from api.request_context import JSONFormatter


class JSONLines(logging.Handler):
    """Formats each record as the service's JSON log does, when and where it is emitted."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.setFormatter(JSONFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def wait_for(self, text: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if text in line["message"]:
                    return line
            time.sleep(0.02)
        raise AssertionError(f"no log line with {text!r}: {self.lines}")


@pytest.fixture
def mail_log():
    """The JSON lines of services.mail during the test."""
    logger = logging.getLogger("services.mail")
    handler, level = JSONLines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def signup_with_request_id(anon_client, email: str, request_id: str):
    response = anon_client.post(
        "/api/auth/signup",
        json={"email": email, "password": "a long passphrase of hers"},
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 202, response.text
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(("backend", "logged"), [("console", "mail to"), ("smtp", "mail delivered to")])
def test_mail_log_line_carries_the_request_id(use_settings, anon_client, mailbox, mail_log, backend, logged):
    """Console and SMTP backends alike: the line names the signup's X-Request-ID."""
    use_settings(mail_backend=backend)
    signup_with_request_id(anon_client, f"{backend}@example.com", f"signup-{backend}-42")
    line = mail_log.wait_for(f"{logged} {backend}@example.com")
    assert line["request_id"] == f"signup-{backend}-42"


def test_failed_delivery_line_carries_the_request_id(use_settings, anon_client, mail_log):
    """A mail the server refuses is logged with the id of the request that sent it."""
    use_settings(smtp_port=1)  # nothing listens there
    signup_with_request_id(anon_client, "lost@example.com", "signup-lost-7")
    line = mail_log.wait_for("mail to lost@example.com could not be delivered")
    assert line["request_id"] == "signup-lost-7"
