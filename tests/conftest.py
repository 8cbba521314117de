"""Fixtures: one app per test session on a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL).

On PostgreSQL the session creates a database of its own and drops it at the end, so concurrent
runs never see each other's rows. Every test starts with empty tables.
"""

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from models import db

TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"


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


@pytest.fixture(scope="session")
def settings(database_url):
    """The overrides every test app is built with."""
    return {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "AUTO_MIGRATE": True,
        "LOG_LEVEL": "WARNING",
        "VALIDATE_RESPONSES": True,
    }


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
    with service.app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture
def client(app):
    """An HTTP client talking to the app in-process."""
    return app.test_client()


@pytest.fixture
def app_context(app):
    """A Flask app context for calling services directly."""
    with app.app.app_context():
        yield
        db.session.remove()


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
