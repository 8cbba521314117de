"""Error reports (SENTRY_DSN): a 500 reaches a real HTTP server standing in for Sentry, without personal data."""

import gzip
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk

from app import create_app
from services import customers, mail, tasks
from services.error_reports import scrub_text, stop_error_reports

EMAIL = "leaky.person@example.com"
CPF_WRITTEN, CPF_DIGITS = "529.982.247-25", "52998224725"
BODY_MARKER = "a-note-only-the-body-carries"
ARRIVED_WITHIN = 10  # seconds to wait for an event sent in the background


class FakeSentry:
    """A real HTTP server on 127.0.0.1 taking Sentry envelopes, as the Sentry server does."""

    def __init__(self):
        self.envelopes: list[bytes] = []
        self.arrived = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    raw = gzip.decompress(raw)
                elif encoding == "deflate":
                    raw = zlib.decompress(raw)
                with fake.arrived:
                    fake.envelopes.append(raw)
                    fake.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://publickey@127.0.0.1:{self.server.server_address[1]}/1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        """The error events received so far (envelope items of type "event")."""
        found = []
        for envelope in self.envelopes:
            lines = envelope.split(b"\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found

    def wait_for_event(self) -> dict:
        deadline = time.monotonic() + ARRIVED_WITHIN
        with self.arrived:
            while not self.events():
                remaining = deadline - time.monotonic()
                assert remaining > 0, "no event reached the server"
                self.arrived.wait(remaining)
            return self.events()[0]


@pytest.fixture
def fake_sentry():
    server = FakeSentry()
    yield server
    stop_error_reports()
    server.server.shutdown()


@pytest.fixture
def failing_create(monkeypatch):
    """Storing a customer fails inside the service, its message naming the customer."""

    def fail(values, **_kwargs):
        raise ValueError(f"cannot store {values.get('email')} with CPF {CPF_WRITTEN} ({CPF_DIGITS})")

    monkeypatch.setattr(customers, "create_customer", fail)


def provoke_500(service, bearer: dict) -> str:
    """POST a customer whose storing fails; the request id of the 500."""
    http = service.test_client()
    body = {"email": EMAIL, "document": CPF_WRITTEN, "first_name": BODY_MARKER}
    response = http.post("/api/customers", json=body, headers=bearer)
    assert response.status_code == 500, response.text
    return response.headers["x-request-id"]


@pytest.mark.usefixtures("app", "failing_create")
def test_a_500_is_reported_without_personal_data(settings, fake_sentry, make_user, bearer_for):
    """The event names the exception; no email, CPF, bearer token or request body reaches the server."""
    service = create_app({**settings, "AUTO_MIGRATE": False, "SENTRY_DSN": fake_sentry.dsn})
    bearer = bearer_for(make_user("admin"))
    request_id = provoke_500(service, bearer)
    sentry_sdk.flush(timeout=ARRIVED_WITHIN)
    event = fake_sentry.wait_for_event()
    assert [value["type"] for value in event["exception"]["values"]][-1] == "ValueError"
    assert event["environment"] == "test"
    assert event["tags"]["request_id"] == request_id
    assert len(fake_sentry.events()) == 1  # the log line and the problem handler's report are one event
    sent = b"".join(fake_sentry.envelopes).decode()
    token = bearer["Authorization"].removeprefix("Bearer ")
    for personal in (EMAIL, CPF_WRITTEN, CPF_DIGITS, token, BODY_MARKER, "leaky.person"):
        assert personal not in sent
    assert "[email]" in event["exception"]["values"][-1]["value"]


def test_a_failing_queue_task_is_reported(app, settings, fake_sentry, monkeypatch):
    """A task that raises in a queue worker is reported too, naming its exception."""

    def fail(_mail_pk):
        raise RuntimeError(f"the mail server refused {EMAIL}")

    monkeypatch.setattr(mail, "deliver", fail)
    create_app({**settings, "AUTO_MIGRATE": False, "SENTRY_DSN": fake_sentry.dsn})
    with app.app.app_context():
        tasks.enqueue_mail(12345)
    event = fake_sentry.wait_for_event()
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert EMAIL not in b"".join(fake_sentry.envelopes).decode()


@pytest.mark.usefixtures("app", "failing_create")
def test_without_a_dsn_nothing_is_sent(settings, fake_sentry, make_user, bearer_for):
    """SENTRY_DSN unset: the same failure sends nothing."""
    service = create_app({**settings, "AUTO_MIGRATE": False})
    provoke_500(service, bearer_for(make_user("admin")))
    assert not sentry_sdk.get_client().is_active()
    sentry_sdk.flush(timeout=2)
    assert fake_sentry.envelopes == []


def test_text_is_scrubbed_of_addresses_cpfs_and_credentials():
    """What could name a person or open an account is replaced, the rest kept."""
    text = "ana@example.com 111.444.777-35 11144477735 Bearer abc.def eyJhbGciOi.eyJzdWIi.sig api_key=k1 order 12"
    assert scrub_text(text) == "[email] [cpf] [cpf] Bearer [removed] [token] api_key=[removed] order 12"
