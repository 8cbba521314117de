"""Sign-in, sign-up, reset and refresh are limited per client address and per account (429 + Retry-After)."""

import socket
import uuid

import pytest

from app import create_app
from services.rate_limits import RETRY_SHARED_AFTER
from tests.conftest import TEST_PASSWORD, login
from tests.services import test_rate_limits as redis_tests

REDIS_URL = "redis://127.0.0.1:6379/0"
redis_server = redis_tests.redis_server  # a redis-server of the test's own
WRONG_PASSWORD = "not the password"


def redis_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


def limited_app(settings: dict, storage: str):
    """An app on the test database whose limits are small enough to reach in a test."""
    return create_app(
        {
            **settings,
            "AUTO_MIGRATE": False,
            "RATE_LIMIT_STORAGE_URL": storage,
            "RATE_LIMIT_LOGIN": "3/minute",
            "RATE_LIMIT_SIGNUP": "2/minute",
            "RATE_LIMIT_RESET": "2/minute",
            "RATE_LIMIT_REFRESH": "2/minute",
        }
    )


@pytest.mark.usefixtures("app")
def test_login_is_limited_per_account_with_retry_after(settings):
    """The fourth attempt on one account within a minute is a 429 telling when to retry."""
    http = limited_app(settings, "memory://").test_client()
    for _ in range(3):
        assert login(http, "victim@example.com", WRONG_PASSWORD).status_code == 401
    refused = login(http, "victim@example.com", WRONG_PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


@pytest.mark.usefixtures("app")
def test_login_is_limited_per_client_address(settings):
    """Trying many accounts from one address is limited too."""
    http = limited_app(settings, "memory://").test_client()
    for n in range(3):
        assert login(http, f"user{n}@example.com", WRONG_PASSWORD).status_code == 401
    assert login(http, "someone-else@example.com", WRONG_PASSWORD).status_code == 429


@pytest.mark.usefixtures("app")
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/auth/signup", lambda n: {"email": f"new{n}@example.com", "password": "a long enough passphrase"}),
        ("/api/auth/reset", lambda n: {"email": "who@example.com"}),
        ("/api/auth/refresh", lambda n: {"refresh_token": "not-a-token"}),
    ],
)
def test_signup_reset_and_refresh_are_limited(settings, path, body):
    """Each of the other sensitive operations has its own limit."""
    http = limited_app(settings, "memory://").test_client()
    statuses = [http.post(path, json=body(n)).status_code for n in range(3)]
    assert statuses[-1] == 429
    assert 429 not in statuses[:2]


@pytest.mark.usefixtures("app")
@pytest.mark.skipif(not redis_answers(), reason="no Redis server answers on 127.0.0.1:6379")
def test_limits_are_shared_by_workers_through_redis(settings):
    """Two app instances (as two workers) count attempts in the same Redis."""
    first, second = limited_app(settings, REDIS_URL), limited_app(settings, REDIS_URL)
    first.app.extensions["rate_limits"].reset()
    account = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    a, b = first.test_client(), second.test_client()
    assert login(a, account, WRONG_PASSWORD).status_code == 401
    assert login(b, account, WRONG_PASSWORD).status_code == 401
    assert login(a, account, WRONG_PASSWORD).status_code == 401
    assert login(b, account, WRONG_PASSWORD).status_code == 429
    first.app.extensions["rate_limits"].reset()


@pytest.mark.usefixtures("app")
def test_sign_in_works_with_redis_stopped_and_ready_says_so(settings, redis_server, make_user):
    """Redis killed: sign-ins answer (limited in each process), /api/ready is 200 naming the degradation;
    once Redis answers again the attempts are counted there again."""
    http = limited_app(settings, redis_server.url).test_client()
    user = make_user("staff")
    redis_server.kill()
    assert login(http, user.email, TEST_PASSWORD).status_code == 200
    assert [login(http, user.email, WRONG_PASSWORD).status_code for _ in range(3)] == [401, 401, 429]
    ready = http.get("/api/ready")
    assert ready.status_code == 200
    assert ready.json()["rate_limits"].startswith("degraded: the rate-limit storage does not answer")
    redis_server.start()
    assert redis_tests.wait_until(lambda: http.get("/api/ready").json()["rate_limits"] == "ok", RETRY_SHARED_AFTER + 5)
    assert login(http, user.email, TEST_PASSWORD).status_code == 200
    assert redis_server.limit_keys()
