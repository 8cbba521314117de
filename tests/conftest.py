"""Fixtures: one app per test session on a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL).

On PostgreSQL the session creates a database of its own and drops it at the end, so concurrent
runs never see each other's rows. Every test starts with empty tables.
"""

import os
import re
import socket
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from flask import current_app, has_app_context
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from app import create_app
from config import Settings
from models import Customer, ProductType, User, UserSession, db
from models.types import utcnow
from services.passwords import hash_password
from services.settings import bind_settings
from services.tokens import new_secret

REFERENCE_TABLES = {"tiers", "product_types"}  # seeded by migrations
# The product types the migration seeds (0003_rewards_orders_ledger_sales), put back after each test.
DEFAULT_PRODUCT_TYPES = {"A": Decimal("5"), "B": Decimal("1"), "C": Decimal("8"), "D": Decimal("10")}
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"


def wait_for_health(base: str, process: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    """Wait until the server at `base` answers 200 on /api/health; fail, with its log, if it exits or takes longer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{base}/api/health did not answer within {seconds} s: {log.read_text()}")


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_database(admin_url: str):
    """Create a uniquely named database next to admin_url; return its URL and a function dropping it."""
    url = make_url(admin_url)
    name = f"customer_interface_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - reported as the reason the run cannot go on
        pytest.exit(f"TEST_DATABASE_URL ({url.render_as_string(hide_password=True)}) does not answer: {exc}", 2)

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """The URL of this run's own database."""
    admin_url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not admin_url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    url, drop = _postgres_database(admin_url)
    try:
        yield url
    finally:
        drop()


class Mailbox:
    """Messages received by a real SMTP server on 127.0.0.1."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's handler name
        message = message_from_bytes(envelope.content, policy=default_policy)
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, to: str, subject_contains: str = "", timeout: float = 10) -> EmailMessage:
        """The first message to `to` whose subject contains the text, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for message in self.messages:
                    if message["To"] == to and subject_contains in message["Subject"]:
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    subjects = [(m["To"], m["Subject"]) for m in self.messages]
                    raise AssertionError(f"no mail to {to} about {subject_contains!r}; received {subjects}")
                self._arrived.wait(remaining)

    def to(self, address: str) -> list[EmailMessage]:
        """Every message received for the address so far."""
        with self._arrived:
            return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server (aiosmtpd) on a free port of 127.0.0.1 for the whole run."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield mailbox, controller.port
    controller.stop()


@pytest.fixture
def mailbox(smtp_server):
    """The messages delivered during this test."""
    box, _ = smtp_server
    with box._arrived:
        box.messages.clear()
    return box


@pytest.fixture(scope="session")
def settings(database_url, smtp_server, tmp_path_factory):
    """The overrides every test app is built with."""
    return {
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_server[1],
        "PUBLIC_BASE_URL": "http://customers.test",
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "AUTO_MIGRATE": True,
        "LOG_LEVEL": "WARNING",
        "VALIDATE_RESPONSES": True,
        # The run's own queue file; the session app's embedded consumer (served_app) runs its tasks.
        "QUEUE_URL": f"sqlite:///{tmp_path_factory.mktemp('queue') / 'queue.db'}",
        "QUEUE_EMBEDDED": True,
        "QUEUE_WORKERS": 2,
    }


@pytest.fixture(scope="session")
def served_app(app):
    """The session app with its lifespan entered, as a server runs it: its embedded queue consumer works."""
    with app.test_client():
        yield app


@pytest.fixture(autouse=True)
def queue_consumer(request):
    """Tests of the app have its queue consumer running (mail, partner retries), as a served app has."""
    if "app" in request.fixturenames:
        request.getfixturevalue("served_app")


@pytest.fixture(scope="session")
def app(settings):
    """The service, migrated to head, with response validation on."""
    service = create_app(settings)
    yield service
    with service.app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def empty_tables(request):
    """Leave every table empty after each test that used the database."""
    yield
    if "app" not in request.fixturenames:
        return
    service = request.getfixturevalue("app")
    service.app.extensions["rate_limits"].reset()
    with service.app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                if table.name not in REFERENCE_TABLES:
                    connection.execute(table.delete())
            # Tests may change product types: put back the ones the migration seeds.
            connection.execute(ProductType.__table__.delete())
            connection.execute(
                ProductType.__table__.insert(),
                [{"code": c, "cashback_percent": p, "updated_at": utcnow()} for c, p in DEFAULT_PRODUCT_TYPES.items()],
            )


TEST_PASSWORD = "a long test passphrase"


@pytest.fixture(scope="session")
def test_password_hash():
    """One argon2 hash of TEST_PASSWORD, computed once: hashing is slow on purpose."""
    return hash_password(TEST_PASSWORD)


@pytest.fixture
def make_user(app, test_password_hash):
    """Store a user with TEST_PASSWORD (optionally linked to a customer pk) and return it."""

    def make(role: str = "admin", email: str | None = None, customer_pk: int | None = None) -> User:
        with app.app.app_context():
            user = User(
                id=new_secret(12),
                email=email or f"{role}-{uuid.uuid4().hex[:8]}@example.com",
                password_hash=test_password_hash,
                role=role,
                customer_pk=customer_pk,
                email_verified=True,
                active=True,
            )
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return make


@pytest.fixture
def bearer_for(app):
    """Open a session for a user directly in the database and return its Authorization header."""

    def bearer(user: User) -> dict:
        codec = app.app.extensions["token_codec"]
        with app.app.app_context():
            session = UserSession(
                id=new_secret(16), user_pk=user.pk, expires_at=utcnow() + timedelta(seconds=codec.refresh_ttl)
            )
            db.session.add(session)
            db.session.commit()
            token = codec.issue_access(user_id=user.id, role=user.role, session_id=session.id).token
        return {"Authorization": f"Bearer {token}"}

    return bearer


@pytest.fixture
def anon_client(app):
    """An HTTP client talking to the app in-process, with no credentials."""
    return app.test_client()


def store_customer(app, **fields) -> int:
    """Store a customer directly in the database (no API, no wallet, no trail); return its key."""
    with app.app.app_context():
        now = utcnow()
        customer = Customer(**fields, created_at=now, updated_at=now)
        db.session.add(customer)
        db.session.commit()
        return customer.pk


@pytest.fixture
def client_as(app, make_user, bearer_for):
    """An HTTP client signed in with a given role (for 'customer', linked to a new customer record)."""

    def signed_in(role: str = "admin", customer_pk: int | None = None):
        if role == "customer" and customer_pk is None:
            customer_pk = store_customer(app, id=new_secret(8), email=f"c-{uuid.uuid4().hex[:8]}@example.com")
        http = app.test_client()
        http.headers.update(bearer_for(make_user(role, customer_pk=customer_pk)))
        return http

    return signed_in


@pytest.fixture
def client(client_as):
    """An HTTP client talking to the app in-process, signed in as an admin."""
    return client_as("admin")


@pytest.fixture
def app_context(app):
    """A Flask app context for calling services directly."""
    with app.app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def use_settings(app):
    """The one way to run a test with other settings: `use_settings(mail_backend="console")` swaps in
    dataclasses.replace(the app's Settings, ...) for the rest of the test (the app's own come back after it).

    The app binds its settings whenever one of its contexts is pushed, so requests, CLI commands and app
    contexts opened afterwards see the new ones (an app context this test already holds is rebound too). What
    create_app built from the settings (middleware limits, the token codec, the rate limits) stays as built:
    for other values there, build an app of its own with create_app(overrides).
    """
    flask_app = app.app
    own = flask_app.extensions["settings"]

    def swap_in(settings: Settings) -> Settings:
        flask_app.extensions["settings"] = settings
        if has_app_context() and current_app._get_current_object() is flask_app:
            bind_settings(settings)
        return settings

    yield lambda **changes: swap_in(replace(flask_app.extensions["settings"], **changes))
    swap_in(own)


@pytest.fixture
def backend(app) -> str:
    """'sqlite' or 'postgresql'."""
    with app.app.app_context():
        return db.engine.url.get_backend_name()


@pytest.fixture
def make_customer(client):
    """Create a customer through the API and return its JSON representation."""

    def make(**fields):
        fields.setdefault("email", f"{uuid.uuid4().hex[:10]}@example.com")
        response = client.post("/api/customers", json=fields)
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def count_queries(app, use_settings):
    """`with count_queries() as statements:` lists the SQL statements the app's engine runs inside the block.

    Every request checks its session with the database meanwhile (SESSION_CHECK_SECONDS=0), so two counts
    never differ by whether a confirmation happened to be kept.
    """
    use_settings(session_check_seconds=Decimal(0))

    @contextmanager
    def counting():
        with app.app.app_context():
            engine = db.engine
        statements: list[str] = []

        def record(connection, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", record)

    return counting


@pytest.fixture
def ana_customer(client):
    """A customer record (id "ana", an email, a first name) that staff made: what orders and rewards act on."""
    response = client.post("/api/customers", json={"id": "ana", "email": "ana@example.com", "first_name": "Ana"})
    assert response.status_code == 201
    return response.json()


def order(client, customer="ana", **body):
    """POST an order for the customer (ana_customer by default); the answer."""
    return client.post(f"/api/customers/{customer}/orders", json=body)


@pytest.fixture
def bruna(client):
    """A customer with the CPF and the name ERP_SALE carries: the ERP's sales become her orders."""
    response = client.post(
        "/api/customers",
        json={
            "id": "bruna",
            "email": "bruna@example.com",
            "first_name": "Bruna",
            "last_name": "Leite",
            "document": "52998224725",
        },
    )
    assert response.status_code == 201
    return response.json()


# A sale as the ERP sends it: Bruna's CPF and name, 100.00 of types A (10.00) and B (2 x 45.00).
ERP_SALE = {
    "sold_at": "2026-11-20 20:12:22",
    "customer": {"document": "529.982.247-25", "name": "Bruna  Leite"},
    "total": "100.00",
    "products": [{"type": "A", "value": "10.00", "qty": 1}, {"type": "B", "value": "45.00", "qty": 2}],
}


@pytest.fixture
def erp(client, app):
    """An HTTP client holding an integration API key, as the ERP does."""
    key = client.post("/api/api-keys", json={"name": "ERP"}).json()["key"]
    http = app.test_client()
    http.headers.update({"X-API-Key": key})
    return http


# --- accounts: sign-up, sign-in and the links mailed to them ----------------------------------------

SIGNUP_PASSWORD = "correct horse battery staple"
LINK = re.compile(r"http://customers\.test/(reset|verify)\?token=([A-Za-z0-9_-]+)")


def link_token(message, kind: str) -> str:
    """The token of the /reset or /verify link in a mail."""
    match = LINK.search(message.get_content())
    assert match and match.group(1) == kind, message.get_content()
    return match.group(2)


def signup(client, email="ana@example.com", password=SIGNUP_PASSWORD, **extra):
    """POST /api/auth/signup; the answer."""
    return client.post("/api/auth/signup", json={"email": email, "password": password, **extra})


def login(client, email="ana@example.com", password=SIGNUP_PASSWORD):
    """POST /api/auth/login; the answer."""
    return client.post("/api/auth/login", json={"email": email, "password": password})


def bearer(tokens: dict) -> dict:
    """The Authorization header of a token pair."""
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def sign_in(client, email: str, password: str = SIGNUP_PASSWORD) -> dict:
    """The Authorization header of a fresh sign-in (asserting it works)."""
    response = login(client, email, password)
    assert response.status_code == 200, response.text
    return bearer(response.json())


@pytest.fixture
def ana_account(anon_client, mailbox):
    """A signed-up customer account (a new address), with its verify mail received."""
    response = signup(anon_client, first_name="Ana", last_name="Lima")
    assert response.status_code == 202, response.text
    return mailbox.wait_for("ana@example.com", "Confirm")
