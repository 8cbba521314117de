"""The service starts the documented ways: `python app.py` and `uvicorn app:app`."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 30) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}: {process.stdout.read()}")
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {seconds} s")


@pytest.fixture
def server_env(tmp_path):
    """Environment for a server on a free port with its own SQLite file."""
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "development",
        "SECRET_KEY": "k" * 40,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    return env, port


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "app.py"],
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", "{port}"],
    ],
    ids=["python app.py", "uvicorn app:app"],
)
def test_server_starts_migrates_and_answers(server_env, command):
    """The server applies migrations at start-up, answers on HOST:PORT and logs JSON lines."""
    env, port = server_env
    argv = [part.format(port=port) for part in command]
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = _wait_for(f"http://127.0.0.1:{port}/api/ready", process)
        assert ready.status_code == 200, ready.text
        base = f"http://127.0.0.1:{port}/api"
        credentials = {"email": "ana@example.com", "password": "a long enough passphrase"}
        created = httpx.post(f"{base}/auth/signup", json=credentials, timeout=10)
        assert created.status_code == 202, created.text
        tokens = httpx.post(f"{base}/auth/login", json=credentials, timeout=10).json()
        me = httpx.get(f"{base}/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=5)
        assert me.json()["customer"]["email"] == "ana@example.com"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    request_id = created.headers["x-request-id"]
    assert f'"request_id":"{request_id}"' in output
    assert "created the admin admin@example.com with the one-time password" in output
