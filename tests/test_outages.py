"""Outages end cleanly: a database that refuses, never answers, is too slow or comes back; a request killed holding an
Idempotency-Key; settings or a database that refuse the start stop the whole server."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import suppress
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from models import db
from services.tokens import TokenCodec
from tests.conftest import TEST_SECRET_KEY, free_port, store_customer, wait_for_health

ROOT = Path(__file__).resolve().parent.parent
ANSWERED_WITHIN = 20  # seconds: "bounded, not hung"


class Server:
    """`uvicorn app:app` in a process (and session) of its own, its output in a file; stopped with SIGKILL."""

    def __init__(self, env: dict, log: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(self.port)]
        with open(log, "a") as output:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for_health(self.base, self.process, self.log, ANSWERED_WITHIN)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def server_env(database_url: str, **settings) -> dict:
    return {
        **os.environ,
        "APP_ENV": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        "AUTO_MIGRATE": "false",
        "DATABASE_CONNECT_TIMEOUT": "2",
        "QUEUE_EMBEDDED": "false",
        "LOG_LEVEL": "WARNING",
        **{name: str(value) for name, value in settings.items()},
    }


@pytest.fixture
def servers(tmp_path):
    """Start servers with server_env(...); each is killed at the end of the test."""
    started: list[Server] = []

    def start(env: dict) -> Server:
        started.append(Server(env, tmp_path / "server.log"))
        return started[-1]

    yield start
    for server in started:
        if server.process.poll() is None:
            server.kill()


def silent_port() -> int:
    """A port that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    held = []
    threading.Thread(target=lambda: held.extend(listener.accept() for _ in iter(int, 1)), daemon=True).start()
    return listener.getsockname()[1]


def admin_bearer() -> dict:
    """A well-signed token of a session no database can confirm."""
    token = TokenCodec(TEST_SECRET_KEY, 900, 3600).issue_access(user_id="u1", role="admin", session_id="s1").token
    return {"Authorization": f"Bearer {token}"}


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 60


@pytest.mark.subprocess
@pytest.mark.parametrize("database", ["refuses", "never answers"])
def test_a_database_that_is_down_answers_503_not_500_nor_a_hang(servers, database):
    """The server starts without the database (AUTO_MIGRATE=false); requests needing it answer 503 in bounded time."""
    port = free_port() if database == "refuses" else silent_port()
    server = servers(server_env(f"postgresql+psycopg://app@127.0.0.1:{port}/customers"))
    assert httpx.get(f"{server.base}/api/health", timeout=5).status_code == 200
    assert_unavailable(httpx.get(f"{server.base}/api/customers", headers=admin_bearer(), timeout=ANSWERED_WITHIN))
    assert_unavailable(httpx.get(f"{server.base}/api/ready", timeout=ANSWERED_WITHIN))
    page = httpx.get(f"{server.base}/verify", params={"token": "x"}, timeout=ANSWERED_WITHIN)
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")


class Proxy:
    """A TCP proxy on 127.0.0.1 to the PostgreSQL server: closed (every connection cut) and opened again."""

    def __init__(self, host: str, port: int):
        self.target, self.port = (host, port), free_port()
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []

    def open(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def close(self) -> None:
        # shutdown() first: close() alone leaves a socket working while another thread is blocked on it.
        for sock in [self.listener, *self.sockets]:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client = listener.accept()[0]
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()


@pytest.fixture
def postgresql_url(backend, database_url):
    """The URL of the test run's migrated PostgreSQL database (the app fixture migrated it)."""
    if backend != "postgresql":
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL")
    return make_url(database_url)


def eventually(request, expected_status: int) -> httpx.Response:
    """Ask again until the answer has the expected status (within ANSWERED_WITHIN seconds); the last answer."""
    deadline = time.monotonic() + ANSWERED_WITHIN
    while True:
        response = request()
        if response.status_code == expected_status or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


@pytest.mark.subprocess
def test_a_database_that_comes_back_is_used_again_without_a_restart(servers, postgresql_url, client_as):
    """Connections cut mid-outage are not handed out again: the server answers 503, then 200 once it is back."""
    proxy = Proxy(postgresql_url.host or "127.0.0.1", postgresql_url.port or 5432)
    proxy.open()
    url = postgresql_url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server = servers(server_env(url))
    headers = dict(client_as("admin").headers)

    def customers() -> httpx.Response:
        return httpx.get(f"{server.base}/api/customers", headers=headers, timeout=ANSWERED_WITHIN)

    assert customers().status_code == 200
    proxy.close()
    assert_unavailable(customers())
    assert_unavailable(customers())
    proxy.open()
    back = eventually(customers, 200)
    assert back.status_code == 200, back.text
    proxy.close()


WAITING_ON_A_LOCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
)


def test_a_statement_past_the_statement_timeout_answers_503(app, settings, postgresql_url, client_as):
    """An order stuck behind a lock longer than DATABASE_STATEMENT_TIMEOUT is cancelled: 503, and nothing placed."""
    customer_pk = store_customer(app, id="ana", email="ana@example.com")
    headers = dict(client_as("admin").headers)
    impatient = create_app({**settings, "AUTO_MIGRATE": False, "DATABASE_STATEMENT_TIMEOUT": 1}).test_client()
    locker = create_engine(postgresql_url)
    with locker.connect() as lock:
        lock.execute(text("SELECT pk FROM customers WHERE pk = :pk FOR UPDATE"), {"pk": customer_pk})
        assert_unavailable(impatient.post("/api/customers/ana/orders", json=ORDER, headers=headers))
        lock.rollback()
    locker.dispose()
    assert impatient.get("/api/customers/ana/orders", headers=headers).json()["items"] == []


def test_no_free_connection_in_the_pool_answers_503(settings, client_as):
    """Every connection of the pool busy past DATABASE_POOL_TIMEOUT: 503, and 200 once one is free again."""
    crowded = create_app({**settings, "AUTO_MIGRATE": False, "DATABASE_POOL_SIZE": 1, "DATABASE_POOL_TIMEOUT": 1})
    http = crowded.test_client()
    http.headers.update(client_as("admin").headers)
    with crowded.app.app_context():
        engine = db.engine
    overflow = crowded.app.config["SQLALCHEMY_ENGINE_OPTIONS"]["max_overflow"]
    busy = [engine.connect() for _ in range(1 + overflow)]
    assert_unavailable(http.get("/api/customers"))
    for connection in busy:
        connection.close()
    assert http.get("/api/customers").status_code == 200
    engine.dispose()


def _wait_for(query: str, url: str, **params) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + ANSWERED_WITHIN
    with engine.connect() as connection:
        while not connection.execute(text(query), params).scalar():
            assert time.monotonic() < deadline, f"never true: {query}"
            time.sleep(0.05)
    engine.dispose()


@pytest.mark.subprocess
def test_a_request_killed_holding_an_idempotency_key_is_retried_once(servers, app, postgresql_url, client_as):
    """The server dies while an order waits inside its transaction; after the claim's lease lapsed, the retry places
    it, and exactly one order exists."""
    url = postgresql_url.render_as_string(hide_password=False)
    customer_pk = store_customer(app, id="ana", email="ana@example.com")
    headers = {**client_as("admin").headers, "Idempotency-Key": f"till-{uuid.uuid4().hex}"}
    env = server_env(url, IDEMPOTENCY_LEASE_SECONDS=2)
    first = servers(env)
    locker = create_engine(url)
    with locker.connect() as lock:
        lock.execute(text("SELECT pk FROM customers WHERE pk = :pk FOR UPDATE"), {"pk": customer_pk})
        place = threading.Thread(
            target=lambda: _post_ignoring_failure(f"{first.base}/api/customers/ana/orders", headers), daemon=True
        )
        place.start()
        _wait_for("SELECT count(*) FROM idempotency_keys", url)
        _wait_for(WAITING_ON_A_LOCK, url)
        first.kill()
        lock.rollback()
    locker.dispose()
    second = servers(env)

    def retry() -> httpx.Response:
        return httpx.post(f"{second.base}/api/customers/ana/orders", json=ORDER, headers=headers, timeout=10)

    placed = eventually(retry, 201)
    assert placed.status_code == 201, placed.text
    assert "idempotent-replayed" not in placed.headers  # placed by the retry, not by the killed request
    assert retry().headers["idempotent-replayed"] == "true"
    listed = httpx.get(f"{second.base}/api/customers/ana/orders", headers=headers, timeout=10).json()
    assert [o["id"] for o in listed["items"]] == [placed.json()["order"]["id"]]


ORDER = {"total": "10.00"}


def _post_ignoring_failure(url: str, headers: dict) -> None:
    with suppress(httpx.TransportError):  # the server is killed under it: that is the point
        httpx.post(url, json=ORDER, headers=headers, timeout=ANSWERED_WITHIN)


def _run_until_exit(argv: list[str], env: dict) -> tuple[int, str]:
    """Run a server expected to stop by itself; its exit status and output (killed after ANSWERED_WITHIN s)."""
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=ANSWERED_WITHIN)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"the server was still running after {ANSWERED_WITHIN} s: {output}")
    return process.returncode, output


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
        [sys.executable, "-m", "uvicorn", "app:app", "--workers", "2", "--port", "{port}"],
        [sys.executable, "app.py"],
    ],
    ids=["gunicorn", "uvicorn --workers 2", "python app.py"],
)
def test_a_configuration_error_stops_the_whole_server(argv, tmp_path):
    """Production without SECRET_KEY: the server exits with a failure status, saying why, instead of looping."""
    port = str(free_port())
    env = {**server_env(f"sqlite:///{tmp_path / 'x.db'}"), "APP_ENV": "production", "SECRET_KEY": "", "PORT": port}
    status, output = _run_until_exit([part.format(port=port) for part in argv], env)
    assert status != 0, output
    assert "SECRET_KEY must be set in production" in output
    assert "Traceback" not in output


@pytest.mark.subprocess
def test_an_unreachable_database_stops_the_start_when_it_must_migrate():
    """AUTO_MIGRATE with no database: one clear line, a failure status, within the connect timeout."""
    env = server_env(f"postgresql+psycopg://app@127.0.0.1:{free_port()}/customers", AUTO_MIGRATE="true")
    status, output = _run_until_exit([sys.executable, "-m", "uvicorn", "app:app", "--port", str(free_port())], env)
    assert status != 0, output
    assert output.count("cannot start: the database does not answer") == 1, output
    assert "Traceback" not in output
