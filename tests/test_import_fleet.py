"""Import jobs across processes: a worker killed mid-import, progress read from other processes, and the fleet
(uvicorn --workers 2 on PostgreSQL, the queue on Redis, a standalone queue worker)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from app import create_app
from models import Customer, ImportRowError, db
from services import tasks
from services.import_jobs import resume_stale_jobs, run_job
from tests.conftest import free_port
from tests.services.test_imports import members_csv, queued_job, stored_job

ROOT = Path(__file__).resolve().parent.parent
# run_job in a process of its own, in batches of 100 rows (many commits, so it can be killed between two).
WORKER = """
import json, sys
from app import create_app
from services import imports
from services.import_jobs import run_job
imports.BATCH_ROWS = 100
service = create_app(json.loads(sys.argv[1]))
with service.app.app_context():
    run_job(sys.argv[2])
"""


def start_worker(settings: dict, import_dir: Path, job_id: str) -> subprocess.Popen:
    """A process that runs the job with a lease of 1 second."""
    overrides = {**settings, "IMPORT_DIR": str(import_dir), "IMPORT_LEASE_SECONDS": 1}
    return subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(overrides), job_id], cwd=ROOT)


def wait_until(condition, timeout: float = 30, interval: float = 0.02):
    """Poll until `condition()` is truthy (bounded); its value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(interval)
    return value


@pytest.mark.subprocess
def test_a_job_whose_worker_was_killed_goes_on_from_its_last_batch(app, app_context, settings, use_settings, tmp_path):
    """SIGKILL the worker after some batches: once its lease lapsed the job is resumed where the last committed batch
    ended, and the counts and row errors come out exact (none twice, none lost); the upload is gone."""
    use_settings(import_dir=tmp_path)
    rows = 5000
    job_id = queued_job(members_csv(rows))
    worker = start_worker(settings, tmp_path, job_id)
    try:
        wait_until(lambda: stored_job(job_id).created > 0)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    left = stored_job(job_id)
    assert left.status == "running" and 0 < left.created < rows - rows // 7
    wait_until(lambda: resume_stale_jobs() or stored_job(job_id).status == "queued", timeout=10, interval=0.2)
    run_job(job_id)
    job = stored_job(job_id)
    assert (job.status, job.rows_read, job.created, job.rejected) == ("succeeded", rows, rows - rows // 7, rows // 7)
    assert db.session.scalar(select(func.count()).select_from(Customer)) == rows - rows // 7
    lines = list(db.session.scalars(select(ImportRowError.line).where(ImportRowError.import_pk == job.pk)))
    assert sorted(lines) == [i + 1 for i in range(7, rows + 1, 7)]
    assert sum(count["count"] for count in job.error_counts) == rows // 7
    assert list(tmp_path.iterdir()) == []


@pytest.mark.subprocess
def test_every_app_reports_the_progress_of_a_job_another_process_runs(
    app, app_context, settings, use_settings, tmp_path, make_user, bearer_for
):
    """Two app instances follow a job run by a third process: each answer is between the ones before and after it
    from the other, the counts grow while it runs, and both give the same final report."""
    use_settings(import_dir=tmp_path)
    job_id = queued_job(members_csv(5000))
    headers = bearer_for(make_user("staff"))
    clients = [create_app(settings).test_client(headers=headers) for _ in range(2)]

    def rows_read(client) -> int:
        return client.get(f"/api/imports/{job_id}").json()["rows_read"]

    worker = start_worker(settings, tmp_path, job_id)
    try:
        seen = []
        while worker.poll() is None:
            first, second, third = rows_read(clients[0]), rows_read(clients[1]), rows_read(clients[0])
            assert first <= second <= third
            seen.append(second)
        assert worker.wait(60) == 0
    finally:
        worker.kill()
    assert any(0 < count < 5000 for count in seen)
    reports = [client.get(f"/api/imports/{job_id}").json() for client in clients]
    assert reports[0] == reports[1] and reports[0]["status"] == "succeeded"


# --- the fleet: PostgreSQL, Redis, uvicorn --workers 2 and standalone queue workers ------------------------------


@pytest.fixture
def fleet(app, database_url, tmp_path):
    """Environment of the fleet's processes (QUEUE_EMBEDDED=false, a Redis queue of its own), and its servers."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the fleet runs on PostgreSQL: set TEST_DATABASE_URL")
    if "queue" not in app.app.cli.commands:
        pytest.skip("blocked: the `flask --app app queue worker` command is not there yet")
    if not Path("/usr/bin/redis-server").exists():
        pytest.skip("the fleet's queue needs Redis: /usr/bin/redis-server is not installed")
    redis_port, web_port = free_port(), free_port()
    processes: list[subprocess.Popen] = []
    started = subprocess.Popen(
        ["/usr/bin/redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    processes.append(started)
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
        "AUTO_MIGRATE": "false",
        "QUEUE_URL": f"redis://127.0.0.1:{redis_port}/0",
        "QUEUE_EMBEDDED": "false",
        "IMPORT_DIR": str(tmp_path / "imports"),
        "IMPORT_LEASE_SECONDS": "3",
        "IMPORT_SYNC_MAX_BYTES": "1000",
        "LOG_LEVEL": "WARNING",
        "MAIL_BACKEND": "console",
    }

    def start(*args: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, start_new_session=True)
        processes.append(process)
        return process

    web = start("uvicorn", "app:app", "--no-proxy-headers", "--port", str(web_port), "--workers", "2")
    base = f"http://127.0.0.1:{web_port}"
    wait_until(lambda: answers(f"{base}/api/health"), timeout=30, interval=0.2)
    yield env, base, web, lambda: start("flask", "--app", "app", "queue", "worker")
    for process in reversed(processes):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL) if process is not started else process.kill()
        process.wait(10)


def answers(url: str) -> bool:
    """Whether url answers 200 now (False while nothing listens there)."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def phones_csv(rows: int) -> bytes:
    """A CSV of `rows` customers with distinct US phone numbers; every 7th has an impossible one."""
    lines = ["id,phone_number"] + [f"p{i},{'12' if i % 7 == 0 else 2000000000 + i}" for i in range(1, rows + 1)]
    return ("\n".join(lines) + "\n").encode()


def upload(base: str, headers: dict, body: bytes) -> str:
    """POST a large CSV: 202 and the job's address."""
    response = httpx.post(
        f"{base}/api/customers/import", content=body, headers={**headers, "Content-Type": "text/csv"}, timeout=30
    )
    assert response.status_code == 202, response.text
    return base + response.headers["location"]


def report_of(location: str, headers: dict) -> dict | None:
    """The job's report, or None while no web worker answers (they are being restarted)."""
    try:
        return httpx.get(location, headers=headers, timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None


def finished_report(location: str, headers: dict) -> dict:
    """Follow the job to its end (bounded)."""

    def ended():
        report = report_of(location, headers)
        return report if report and report["status"] not in ("queued", "running") else None

    return wait_until(ended, timeout=60, interval=0.2)


@pytest.mark.subprocess
def test_the_fleet_finishes_an_import_whose_queue_worker_was_killed(fleet, app, make_user, bearer_for, use_settings):
    """100,000 rows through uvicorn --workers 2; SIGKILL the queue worker mid-import, start another: the import
    finishes with exact counts and no upload left."""
    env, base, _web, start_queue_worker = fleet
    headers = bearer_for(make_user("staff"))
    rows = 100_000
    first = start_queue_worker()
    location = upload(base, headers, phones_csv(rows))
    wait_until(lambda: (report_of(location, headers) or {}).get("created"), timeout=30)
    os.killpg(first.pid, signal.SIGKILL)
    start_queue_worker()
    use_settings(queue_url=env["QUEUE_URL"])
    with app.app.app_context():
        job_id = location.rsplit("/", 1)[1]
        # As housekeeping does once a minute: the job whose lease lapsed is queued again.
        wait_until(lambda: resume_stale_jobs() or stored_job(job_id).status == "queued", timeout=15, interval=0.3)
        tasks.enqueue_import(job_id)
    report = finished_report(location, headers)
    assert (report["status"], report["rows_read"]) == ("succeeded", rows)
    assert (report["created"], report["rejected"]) == (rows - rows // 7, rows // 7)
    assert list(Path(env["IMPORT_DIR"]).iterdir()) == []


@pytest.mark.subprocess
def test_the_fleet_finishes_an_import_whose_web_worker_was_killed(fleet, make_user, bearer_for):
    """SIGKILL the web workers (the one that accepted the import among them) right after the 202: the queue
    worker still runs the job to its end."""
    env, base, web, start_queue_worker = fleet
    headers = bearer_for(make_user("staff"))
    start_queue_worker()
    location = upload(base, headers, phones_csv(20000))
    children = Path(f"/proc/{web.pid}/task/{web.pid}/children").read_text()
    assert children.split(), "uvicorn runs its workers as child processes"
    for pid in children.split():
        os.kill(int(pid), signal.SIGKILL)
    report = finished_report(location, headers)
    assert (report["status"], report["created"], report["rejected"]) == ("succeeded", 20000 - 20000 // 7, 20000 // 7)
    assert list(Path(env["IMPORT_DIR"]).iterdir()) == []
