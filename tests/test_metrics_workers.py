"""Metrics under gunicorn with several workers: a scrape answered by any worker counts the requests of all."""

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_SECRET_KEY, free_port, wait_for_health

ROOT = Path(__file__).resolve().parent.parent
STARTED_WITHIN = 30  # seconds
BATCH = 20  # requests sent at once, each on a connection of its own
MAX_BATCHES = 15


def health_requests(base: str) -> float:
    """http_requests_total of GET /api/health with status 200, as one scrape reads it."""
    response = httpx.get(f"{base}/api/metrics", timeout=10)
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "http_requests_total" and sample.labels == {
                "operation": "health",
                "method": "GET",
                "status": "200",
            }:
                return sample.value
    return 0.0


def worker_files(directory: Path) -> set[str]:
    """The processes that counted something, by the files they wrote (counter_<pid>.db)."""
    return {path.name for path in directory.glob("counter_*.db")}


def served_health(base: str, _number: int) -> int:
    """GET /api/health with a client of its own: a fresh connection, which either worker may accept."""
    return httpx.get(f"{base}/api/health", timeout=10).status_code


@pytest.fixture
def gunicorn(tmp_path):
    """`gunicorn -c gunicorn.conf.py app:app` with two workers, on a migrated SQLite database; its metrics dir."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # A file of a process that ended (an earlier run's) goes; one of a process still running (a queue worker
    # sharing the directory: this test's own process stands in for it) stays.
    ended = subprocess.Popen(["true"])  # noqa: S607
    ended.wait()
    (metrics_dir / f"counter_{ended.pid}.db").write_bytes(b"left by an earlier run")
    MmapedDict(str(metrics_dir / f"counter_{os.getpid()}.db")).close()  # a counter file holding no sample yet
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'service.db'}",
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "QUEUE_EMBEDDED": "false",
        "AUTO_MIGRATE": "false",
        "LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, env=env, check=True)
    log = tmp_path / "gunicorn.log"
    with open(log, "w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, server, log, STARTED_WITHIN)
        yield base, metrics_dir, ended.pid
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.subprocess
def test_the_request_counter_adds_up_every_worker(gunicorn):
    """N requests spread over two workers: every scrape, whichever worker answers it, counts N more."""
    base, metrics_dir, ended_pid = gunicorn
    assert f"counter_{ended_pid}.db" not in worker_files(metrics_dir)
    assert f"counter_{os.getpid()}.db" in worker_files(metrics_dir)
    (metrics_dir / f"counter_{os.getpid()}.db").unlink()  # seen kept: from here on, the workers' files only
    before = health_requests(base)
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(MAX_BATCHES):
            assert list(pool.map(partial(served_health, base), range(BATCH))) == [200] * BATCH
            sent += BATCH
            if len(worker_files(metrics_dir)) >= 2:
                break
    assert len(worker_files(metrics_dir)) == 2, "the requests did not reach both workers"
    # Six scrapes: each is answered by one worker or the other, and each counts every request.
    assert {health_requests(base) - before for _ in range(6)} == {sent}


@pytest.mark.subprocess
def test_prometheus_default_path_answers_the_same(gunicorn):
    """GET /metrics (where Prometheus looks by default) is the same exposition as /api/metrics."""
    base, _, _ = gunicorn
    response = httpx.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200
    assert "http_requests_total" in response.text
