"""Rate limits on Redis: shared while it answers, counted in each process while it does not, shared again after."""

import shutil
import socket
import subprocess
import threading
import time

import pytest
import redis

from services.errors import RateLimited
from services.rate_limits import RETRY_SHARED_AFTER, RateLimits
from tests.conftest import free_port

REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    """A redis-server of this test on a free port of 127.0.0.1, stopped with SIGKILL and started again."""

    def __init__(self, tmp_path):
        self.port, self.directory, self.process = free_port(), tmp_path, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(argv, cwd=self.directory, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail("redis-server did not start within 10 s")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def limit_keys(self) -> list[bytes]:
        return redis.Redis(port=self.port).keys("LIMITS*")


@pytest.fixture
def redis_server(tmp_path):
    """A running redis-server of this test's own."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


def attempts(limits: RateLimits, count: int, account: str) -> list[bool]:
    """Try `count` sign-ins on the account; which ones were allowed."""
    allowed = []
    for _ in range(count):
        try:
            limits.hit("login", account=account)
            allowed.append(True)
        except RateLimited:
            allowed.append(False)
    return allowed


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_two_processes_share_the_counts_in_redis(redis_server):
    """Attempts counted by one instance (a worker) count for the other too."""
    first, second = (RateLimits(redis_server.url, {"login": "3/minute"}) for _ in range(2))
    assert attempts(first, 2, "ana") == [True, True]
    assert attempts(second, 2, "ana") == [True, False]
    assert first.status() == "ok"


def test_with_redis_stopped_each_process_counts_alone_then_redis_again(redis_server, caplog):
    """Redis killed: attempts are still limited (in this process), the state says degraded, one warning is logged;
    back to Redis when it answers again."""
    limits = RateLimits(redis_server.url, {"login": "3/minute"})
    assert attempts(limits, 1, "ana") == [True]
    redis_server.kill()
    assert attempts(limits, 4, "bob") == [True, True, True, False]
    assert limits.status().startswith("degraded: the rate-limit storage does not answer")
    warnings = [r.getMessage() for r in caplog.records if r.name == "services.rate_limits"]
    assert len(warnings) == 1 and "does not answer" in warnings[0], warnings
    redis_server.start()
    assert wait_until(lambda: limits.status() == "ok", RETRY_SHARED_AFTER + 5)
    assert attempts(limits, 1, "cem") == [True]
    assert any(b"cem" in key for key in redis_server.limit_keys())


def test_a_redis_that_never_answers_does_not_hold_a_sign_in():
    """A server that accepts connections and never replies: the attempt is counted locally within seconds."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    accepted = []
    threading.Thread(target=lambda: accepted.extend(silent.accept() for _ in range(16)), daemon=True).start()
    limits = RateLimits(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", {"login": "2/minute"})
    started = time.monotonic()
    assert attempts(limits, 3, "ana") == [True, True, False]
    assert time.monotonic() - started < 10
    assert limits.status().startswith("degraded")
    silent.close()
