"""Paths, interpreter and environment variables shared by the benchmark modules."""

import os
import sys
from pathlib import Path

from services.customer_rules import PUBLIC_FIELDS

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
DATA_DIR = BENCH_DIR / ".data"
# A customer as the app answers it (the floor answers the same keys): the app's table of fields and the times.
CUSTOMER_FIELDS = (*PUBLIC_FIELDS, "created_at", "updated_at")
# A fixed, bench-only key: the app requires one of at least 32 characters in production mode.
SECRET_KEY = "bench-only-secret-key-never-used-outside-the-benchmark"  # noqa: S105
# The staff user the seed creates with `flask users create`; the app's requests carry this user's access token.
STAFF_EMAIL = "bench@example.com"
STAFF_PASSWORD = "bench-staff-passphrase-only-for-load-runs"  # noqa: S105 - 20+ chars, not on any leak list


def python_exe() -> str:
    """The project's venv interpreter when present (so `python bench/run.py` works too), else this one."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def database_url(db_path: Path) -> str:
    """SQLAlchemy URL of an absolute SQLite path (four slashes)."""
    return f"sqlite:///{db_path.resolve()}"


def app_env(db_path: Path) -> dict[str, str]:
    """Process environment for the app, its migrations and the floor, pointed at db_path."""
    return {
        **os.environ,
        "APP_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url(db_path),
        "AUTO_MIGRATE": "false",
        "LOG_LEVEL": "INFO",  # as in production: one access log line per request
        "ACCESS_TOKEN_TTL": "3600",  # one token, taken when the server starts, covers the whole run
        "RATE_LIMIT_LOGIN": "1000000/minute",  # the login scenario measures hashing, not the limiter
        "QUEUE_URL": f"sqlite:///{(DATA_DIR / 'queue.db').resolve()}",  # the bench's own queue, not instance/'s
    }
