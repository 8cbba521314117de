"""The task queue: housekeeping, the queue's health, a queue that cannot be reached, and Redis as its storage."""

import logging
import shutil
import signal
import socket
import subprocess
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import create_app
from models import IdempotencyKey, OneTimeToken, RefreshToken, UserSession, db
from models.types import utcnow
from services import tasks
from tests.conftest import free_port
from tests.services.test_mail_request_id import JSONLines


def test_housekeeping_deletes_what_expired_and_nothing_else(app_context, make_user):
    """Expired idempotency keys, mailed tokens, refresh tokens and sessions go; live ones stay, an ended session
    too until it expires."""
    user = make_user("customer")
    past, future = utcnow() - timedelta(minutes=1), utcnow() + timedelta(hours=1)
    for name, expires_at in (("old", past), ("live", future)):
        db.session.add(IdempotencyKey(owner="erp", key=name, fingerprint="f", expires_at=expires_at))
        db.session.add(OneTimeToken(user_pk=user.pk, purpose="reset", token_hash=name * 8, expires_at=expires_at))
        ended = utcnow() if name == "live" else None
        db.session.add(UserSession(id=f"session-{name}", user_pk=user.pk, expires_at=expires_at, ended_at=ended))
        db.session.flush()
        db.session.add(RefreshToken(jti=f"jti-{name}", session_id=f"session-{name}", expires_at=expires_at))
    db.session.commit()

    done = tasks.housekeeping()

    deleted = {name: done[name] for name in ("idempotency_keys", "one_time_tokens", "refresh_tokens", "sessions")}
    assert deleted == {"idempotency_keys": 1, "one_time_tokens": 1, "refresh_tokens": 1, "sessions": 1}
    assert db.session.scalars(select(IdempotencyKey.key)).all() == ["live"]
    assert db.session.scalars(select(OneTimeToken.token_hash)).all() == ["live" * 8]
    assert db.session.scalars(select(UserSession.id)).all() == ["session-live"]
    assert db.session.scalars(select(RefreshToken.jti)).all() == ["jti-live"]
    assert tasks.housekeeping()["sessions"] == 0  # a second round (another consumer's) finds nothing left


def test_queue_health_is_ok_and_an_unreachable_queue_raises(app_context, use_settings, tmp_path):
    """A queue file that cannot be created (its directory is a file) is an error, not "ok"."""
    assert tasks.queue_health() == "ok"
    (tmp_path / "not-a-directory").write_text("")
    use_settings(queue_url=f"sqlite:///{tmp_path / 'not-a-directory' / 'queue.db'}")
    with pytest.raises(Exception):  # noqa: B017 - whatever the storage raises; /api/ready turns it into 503
        tasks.queue_health()


def test_work_that_cannot_be_queued_is_a_503(anon_client, use_settings, tmp_path):
    """A signup whose mail cannot be queued answers 503 problem+json, never a 500."""
    (tmp_path / "not-a-directory").write_text("")
    use_settings(queue_url=f"sqlite:///{tmp_path / 'not-a-directory' / 'queue.db'}")
    response = anon_client.post("/api/auth/signup", json={"email": "queue-down@example.com", "password": "x" * 16})
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "queue" in response.json()["detail"]


@pytest.fixture
def redis_url(tmp_path):
    """A redis-server of this test's own on a free port of 127.0.0.1."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: the Redis queue is not tested")
    port = free_port()
    arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp_path]
    server = subprocess.Popen([binary, *map(str, arguments)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", server
    finally:
        server.send_signal(signal.SIGCONT)
        server.terminate()
        server.wait(10)


@pytest.mark.subprocess
def test_a_redis_queue_delivers_mail_and_a_stalled_redis_is_an_error_within_seconds(app, settings, redis_url, mailbox):
    """Several machines share a Redis queue: the mail of a signup is delivered through it, its log line naming
    the request. A Redis that stops answering makes queue_health raise after its socket timeout, not hang."""
    url, server = redis_url
    service = create_app({**settings, "QUEUE_URL": url, "AUTO_MIGRATE": False})
    mail_log, logger = JSONLines(), logging.getLogger("services.mail")
    logger.addHandler(mail_log)
    logger.setLevel(logging.INFO)
    address = f"redis-{uuid.uuid4().hex[:8]}@example.com"
    try:
        with service.test_client() as http:  # its lifespan: the embedded consumer, on Redis
            response = http.post(
                "/api/auth/signup",
                json={"email": address, "password": "a long passphrase of hers"},
                headers={"X-Request-ID": "signup-on-redis"},
            )
            assert response.status_code == 202, response.text
            assert "Confirm" in mailbox.wait_for(address)["Subject"]
            assert mail_log.wait_for(f"mail delivered to {address}")["request_id"] == "signup-on-redis"
    finally:
        logger.removeHandler(mail_log)
        logger.setLevel(logging.NOTSET)
    with service.app.app_context():
        assert tasks.queue_health() == "ok"
        server.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(Exception):  # noqa: B017 - redis' timeout error; /api/ready turns it into 503
            tasks.queue_health()
        assert time.monotonic() - started < 20  # bounded, not hung
