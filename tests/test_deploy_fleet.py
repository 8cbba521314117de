"""The production recipe served for real: Debian's nginx with deploy/'s site on loopback, in front of gunicorn
(gunicorn.conf.py, 2 workers) and a standalone queue worker, on PostgreSQL and Redis.

Everything is checked through nginx, from the client address 127.0.0.2, as a user would meet it: signing in, an
order, a 100,000-row import followed to its end, the client's own address in the activity trail (nginx being the
only trusted proxy), the metrics, and the stylesheet nginx serves from disk.
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_PASSWORD, free_port
from tests.test_deploy import SITE, _nginx, nginx_conf
from tests.test_import_fleet import answers, phones_csv, wait_until

ROOT = Path(__file__).resolve().parent.parent
CLIENT = "127.0.0.2"  # the client's own address: loopback is all of 127.0.0.0/8
STRANGER = "127.0.0.3"  # someone reaching gunicorn directly, past nginx
METRICS_TOKEN = "metrics-token-for-the-fleet-test"

pytestmark = pytest.mark.subprocess


class Fleet:
    """The processes of the fleet, and a client of nginx from CLIENT."""

    def __init__(self, tmp_path: Path, env: dict):
        self.tmp_path, self.env = tmp_path, env
        self.processes: list[subprocess.Popen] = []
        self.web_port, self.nginx_port = int(env["PORT"]), free_port()
        self.base = f"http://127.0.0.1:{self.nginx_port}"
        self.client = httpx.Client(base_url=self.base, transport=httpx.HTTPTransport(local_address=CLIENT), timeout=30)

    def start(self, argv: list[str], log: str) -> subprocess.Popen:
        """A process of the fleet in a session of its own, its output in tmp_path/log."""
        with (self.tmp_path / log).open("w") as output:
            process = subprocess.Popen(  # noqa: S603
                argv, cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append(process)
        return process

    def start_nginx(self) -> None:
        """nginx with the site as shipped, but for its port and its upstream's."""
        site = SITE.read_text()
        site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{self.web_port};")
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.nginx_port};")
        conf = nginx_conf(site, self.tmp_path)
        error_log = str(self.tmp_path / "error.log")
        self.start(
            [_nginx(), "-p", str(self.tmp_path), "-c", str(conf), "-e", error_log, "-g", "daemon off;"], "nginx.log"
        )

    def log(self, name: str) -> str:
        path = self.tmp_path / name
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        self.client.close()
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@pytest.fixture
def fleet(app, database_url, tmp_path):
    """nginx -> gunicorn (2 workers) + a queue worker, on this run's PostgreSQL database and a Redis of their own."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the fleet runs on PostgreSQL: set TEST_DATABASE_URL")
    if not Path("/usr/bin/redis-server").exists():
        pytest.skip("the fleet's queue needs Redis: /usr/bin/redis-server is not installed")
    _nginx()  # skips, saying why, where nginx is missing
    redis_port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
        "AUTO_MIGRATE": "false",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "2",
        "TRUSTED_PROXIES": "127.0.0.1",
        "QUEUE_URL": f"redis://127.0.0.1:{redis_port}/0",
        "QUEUE_EMBEDDED": "false",
        "RATE_LIMIT_STORAGE_URL": f"redis://127.0.0.1:{redis_port}/1",
        "IMPORT_DIR": str(tmp_path / "imports"),
        "IMPORT_SYNC_MAX_BYTES": "1000",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "METRICS_TOKEN": METRICS_TOKEN,
        "LOG_LEVEL": "WARNING",
        "MAIL_BACKEND": "console",
    }
    env.pop("FORWARDED_ALLOW_IPS", None)
    running = Fleet(tmp_path, env)
    try:
        running.start(
            ["/usr/bin/redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"], "redis.log"
        )
        running.start([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"], "gunicorn.log")
        running.start([sys.executable, "-m", "flask", "--app", "app", "queue", "worker"], "worker.log")
        wait_until(lambda: answers(f"http://127.0.0.1:{running.web_port}/api/health"), timeout=60, interval=0.2)
        running.start_nginx()
        wait_until(lambda: answers(f"{running.base}/api/health"), timeout=60, interval=0.2)
        yield running
    finally:
        running.stop()


def test_the_fleet_serves_through_nginx(fleet, make_user):
    """Sign in, an order, a 100,000-row import with its progress, the client's address, metrics and static files,
    each through nginx."""
    client = fleet.client
    staff = make_user("staff")
    # Signing in, with an X-Forwarded-For of the client's own making: the trail must show its true address.
    response = client.post(
        "/api/auth/login",
        json={"email": staff.email, "password": TEST_PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    # An order: points and cashback on the customer's card.
    created = client.post("/api/customers", json={"email": "fleet@example.com", "first_name": "Ana"}, headers=headers)
    assert created.status_code == 201, created.text
    customer = created.json()["id"]
    order = {"total": "100.80", "items": [{"type": "A", "value": "50.40", "qty": 2}]}
    placed = client.post(f"/api/customers/{customer}/orders", json=order, headers=headers)
    assert placed.status_code == 201, placed.text
    rewards = client.get(f"/api/customers/{customer}/rewards", headers=headers).json()
    assert rewards["points"] == 100

    _import_with_progress(client, headers)
    _client_addresses_are_the_clients(fleet, headers)
    _metrics_count_what_was_served(fleet)

    stylesheet = client.get("/static/pages.css")
    assert stylesheet.status_code == 200 and "immutable" in stylesheet.headers["cache-control"]
    assert stylesheet.content == (ROOT / "static" / "pages.css").read_bytes()
    assert "[error]" not in fleet.log("error.log") and "[crit]" not in fleet.log("error.log")


def _import_with_progress(client: httpx.Client, headers: dict) -> None:
    """100,000 rows streamed through nginx: 202, then the job's counts grow until it ends with exact totals."""
    rows = 100_000
    upload = client.post(
        "/api/customers/import", content=phones_csv(rows), headers={**headers, "Content-Type": "text/csv"}
    )
    assert upload.status_code == 202, upload.text
    location = upload.headers["location"]
    seen: list[int] = []

    def ended() -> dict | None:
        report = client.get(location, headers=headers).json()
        seen.append(report["rows_read"])
        return report if report["status"] not in ("queued", "running") else None

    report = wait_until(ended, timeout=120, interval=0.05)
    assert (report["status"], report["rows_read"]) == ("succeeded", rows)
    assert (report["created"], report["rejected"]) == (rows - rows // 7, rows // 7)
    assert any(0 < count < rows for count in seen), f"no progress seen between 0 and {rows}: {sorted(set(seen))}"
    assert seen == sorted(seen)


def _client_addresses_are_the_clients(fleet: Fleet, headers: dict) -> None:
    """The trail records CLIENT for requests through nginx, whatever the client wrote; a request that reaches
    gunicorn directly is recorded as its own peer, its X-Forwarded-For ignored."""
    direct = httpx.Client(transport=httpx.HTTPTransport(local_address=STRANGER), timeout=30)
    with direct:
        refused = direct.post(
            f"http://127.0.0.1:{fleet.web_port}/api/auth/login",
            json={"email": "nobody@example.com", "password": "not the password"},
            headers={"X-Forwarded-For": "198.51.100.7"},
        )
    assert refused.status_code == 401
    trail = fleet.client.get("/api/activity", headers=headers).json()["items"]
    addresses = {entry["action"]: entry["client_address"] for entry in reversed(trail)}
    assert addresses["auth.login"] == CLIENT
    assert addresses["customer.created"] == CLIENT
    assert addresses["auth.login_failed"] == STRANGER


def _metrics_count_what_was_served(fleet: Fleet) -> None:
    """/metrics asks for its token, then gives what both gunicorn workers served and the jobs by state."""
    assert fleet.client.get("/metrics").status_code == 401
    response = fleet.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.text
    samples = {
        (name, labels): float(value)
        for name, labels, value in re.findall(r"^(\w+)(?:\{(.*)\})? (\S+)$", response.text, re.MULTILINE)
    }
    assert samples[("http_requests_total", 'method="POST",operation="login",status="200"')] == 1
    assert samples[("http_requests_total", 'method="POST",operation="create_order",status="201"')] == 1
    assert samples[("http_request_duration_seconds_count", 'method="POST",operation="create_order"')] == 1
    assert samples[("import_jobs", 'status="succeeded"')] == 1


def test_a_killed_web_worker_is_replaced_and_nginx_keeps_answering(fleet):
    """gunicorn starts a new worker in place of one killed outright; nginx goes on answering through the others."""
    gunicorn = fleet.processes[1]

    def workers() -> list[str]:
        return Path(f"/proc/{gunicorn.pid}/task/{gunicorn.pid}/children").read_text().split()

    first = wait_until(lambda: len(workers()) == 2 and workers())
    os.kill(int(first[0]), signal.SIGKILL)
    statuses = [fleet.client.get("/api/health").status_code for _ in range(20)]
    wait_until(lambda: len(workers()) == 2 and first[0] not in workers(), timeout=60, interval=0.2)
    assert statuses == [200] * 20
