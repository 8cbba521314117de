"""schemathesis against the running service: every operation, every check, the stateful phase (`make fuzz`).

Three passes over one server on this run's database: an admin's bearer token over every operation
but those that end the session or revoke credentials; an API key (the ERP's) over the operations it
may call; and, last, the operations that end the session or revoke the key. The checks schemathesis
cannot judge without knowing the business rules are configured in schemathesis.toml, each with why.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import TEST_PASSWORD, TEST_SECRET_KEY, free_port

pytestmark = [pytest.mark.fuzz, pytest.mark.subprocess]

ROOT = Path(__file__).resolve().parent.parent
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Examples per operation and phase: about two minutes a database on two cores.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "200"))
SEED = os.environ.get("FUZZ_SEED", "20261201")
# They end the caller's session, revoke the key in use or demote the admin: run last, in a pass of their own.
SESSION_ENDING = ("logout", "change_password", "revoke_api_key", "update_user")


def _operation_ids() -> dict[str, list[str]]:
    """operationId -> the security schemes it accepts (empty for public operations)."""
    spec = yaml.safe_load((ROOT / "swagger.yml").read_text())
    default = [name for requirement in spec.get("security", []) for name in requirement]
    found = {}
    for item in spec["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "operationId" in operation:
                security = operation.get("security")
                schemes = default if security is None else [name for requirement in security for name in requirement]
                found[operation["operationId"]] = schemes
    return found


@pytest.fixture
def server(app, database_url, make_user, tmp_path):
    """The service under uvicorn on 127.0.0.1, on this run's (migrated) database; its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "AUTO_MIGRATE": "false",
        "MAIL_BACKEND": "console",
        "LOG_LEVEL": "ERROR",
        "IMPORT_DIR": str(tmp_path / "imports"),
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
    }
    log = open(tmp_path / "server.log", "w+")  # noqa: SIM115 - closed below
    argv = [sys.executable, "-m", "uvicorn", "app:app", "--no-proxy-headers", "--port", str(port)]
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            log.seek(0)
            pytest.fail(f"the server did not start:\n{log.read()}")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.seek(0)
        errors = [line for line in log if '"level":"ERROR"' in line]
        log.close()
        assert errors == [], "the server logged errors:\n" + "".join(errors[:5])


def _sign_in(base: str, email: str) -> str:
    response = httpx.post(f"{base}/api/auth/login", json={"email": email, "password": TEST_PASSWORD}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _run(base: str, name: str, header: str, operations: list[str], tmp_path: Path) -> str | None:
    """One schemathesis pass over the given operations; what it found, or None when it found nothing."""
    argv = [
        str(SCHEMATHESIS),
        "--config-file",
        str(ROOT / "schemathesis.toml"),
        "run",
        f"{base}/api/openapi.json",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        "2",
        "--header",
        header,
        *[arg for operation in operations for arg in ("--include-operation-id", operation)],
    ]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    summary = result.stdout[result.stdout.rfind("SUMMARY") :]
    print(f"--- fuzz pass {name} ---\n{summary}")
    return None if result.returncode == 0 else result.stdout[-20000:] + result.stderr[-5000:]


def test_the_service_keeps_its_contract_under_fuzzing(server, make_user, tmp_path):
    """No server error, no undocumented status, no answer that breaks the spec, with each credential."""
    admin = make_user("admin", email="fuzz-admin@example.com")
    make_user("admin", email="fuzz-second-admin@example.com")  # so demoting the first is possible
    schemes = _operation_ids()
    # Both sessions open before the fuzzing, which exhausts the sign-in limit of this client address.
    token, last_token = _sign_in(server, admin.email), _sign_in(server, admin.email)
    bearer = f"Authorization: Bearer {token}"
    key = httpx.post(
        f"{server}/api/api-keys", json={"name": "fuzz"}, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()["key"]
    everyday = sorted(op for op in schemes if op not in SESSION_ENDING)
    with_key = sorted(op for op, accepted in schemes.items() if "apiKeyAuth" in accepted)
    found = {
        "admin": _run(server, "admin", bearer, everyday, tmp_path),
        "api-key": _run(server, "api-key", f"X-API-Key: {key}", with_key, tmp_path),
    }
    ending = f"Authorization: Bearer {last_token}"
    found["session-ending"] = _run(server, "session-ending", ending, list(SESSION_ENDING), tmp_path)
    failed = {name: output for name, output in found.items() if output is not None}
    assert not failed, "\n\n".join(f"=== pass {name} ===\n{output}" for name, output in failed.items())
