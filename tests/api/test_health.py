"""Liveness and readiness probes."""

import pytest

from app import create_app
from services.schema import head_revision
from tests.api.test_errors import assert_problem
from tests.conftest import free_port


def test_health_answers_while_the_process_is_up(client):
    """GET /api/health is 200 {"status": "ok"}."""
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_database_is_at_head(client):
    """GET /api/ready names the schema revision in force, the queue's and the rate limits' state."""
    response = client.get("/api/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "database": "ok",
        "migrations": head_revision(),
        "queue": "ok",
        "rate_limits": "ok",
    }


def _unmigrated_app(url: str, **overrides):
    settings = {"APP_ENV": "test", "DATABASE_URL": url, "AUTO_MIGRATE": False, "LOG_LEVEL": "CRITICAL"}
    return create_app(settings | overrides)


def test_not_ready_before_migrations(tmp_path):
    """A database without the schema answers 503 naming what is missing."""
    response = _unmigrated_app(f"sqlite:///{tmp_path / 'empty.db'}").test_client().get("/api/ready")
    body = assert_problem(response, 503)
    assert head_revision() in body["detail"]


def test_not_ready_when_database_is_unreachable(tmp_path):
    """A database that cannot be opened answers 503, while /api/health still answers 200."""
    client = _unmigrated_app(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}").test_client()
    response = client.get("/api/ready")
    body = assert_problem(response, 503)
    assert "does not answer" in body["detail"]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert client.get("/api/health").status_code == 200


@pytest.mark.usefixtures("app")
def test_not_ready_when_the_queue_is_unreachable(settings):
    """A queue whose storage does not answer is a 503: work the service accepted would be lost."""
    closed = f"redis://127.0.0.1:{free_port()}/0"
    client = create_app({**settings, "AUTO_MIGRATE": False, "QUEUE_URL": closed, "QUEUE_EMBEDDED": False}).test_client()
    body = assert_problem(client.get("/api/ready"), 503)
    assert "queue" in body["detail"]


@pytest.mark.usefixtures("app")
def test_ready_but_degraded_when_the_rate_limit_storage_is_unreachable(settings):
    """Rate limits whose Redis does not answer are counted in each process: ready (200), the state says so."""
    closed = f"redis://127.0.0.1:{free_port()}/0"
    client = create_app({**settings, "AUTO_MIGRATE": False, "RATE_LIMIT_STORAGE_URL": closed}).test_client()
    response = client.get("/api/ready")
    assert response.status_code == 200, response.text
    assert response.json()["rate_limits"].startswith("degraded: the rate-limit storage does not answer")
