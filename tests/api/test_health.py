"""Liveness and readiness probes."""

from app import create_app
from services.schema import head_revision
from tests.api.test_errors import assert_problem


def test_health_answers_while_the_process_is_up(client):
    """GET /api/health is 200 {"status": "ok"}."""
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_database_is_at_head(client):
    """GET /api/ready names the schema revision in force."""
    response = client.get("/api/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "migrations": head_revision()}


def _unmigrated_app(url: str):
    return create_app({"APP_ENV": "test", "DATABASE_URL": url, "AUTO_MIGRATE": False, "LOG_LEVEL": "CRITICAL"})


def test_not_ready_before_migrations(tmp_path):
    """A database without the schema answers 503 naming what is missing."""
    response = _unmigrated_app(f"sqlite:///{tmp_path / 'empty.db'}").test_client().get("/api/ready")
    body = assert_problem(response, 503)
    assert head_revision() in body["detail"]


def test_not_ready_when_database_is_unreachable(tmp_path):
    """A database that cannot be opened answers 503, while /api/health still answers 200."""
    client = _unmigrated_app(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}").test_client()
    body = assert_problem(client.get("/api/ready"), 503)
    assert "does not answer" in body["detail"]
    assert client.get("/api/health").status_code == 200
