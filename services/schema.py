"""The database schema: which migration it is at, and bringing it to the newest one."""

import fcntl
import hashlib
from collections.abc import Callable
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from models import db

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision the code ships."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision() -> str | None:
    """The revision the database is at (None before the first migration). Raises if unreachable."""
    with db.engine.connect() as connection:
        if not db.inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate_to_head(upgrade: Callable[[], None]) -> None:
    """Apply every pending migration with `upgrade` (the app's Flask-Migrate upgrade of MIGRATIONS_DIR),
    one process at a time (workers start together)."""
    with _migration_lock():
        upgrade()


@contextmanager
def _migration_lock():
    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        key = int.from_bytes(hashlib.sha256(b"customer-interface-migrations").digest()[:7], "big")
        with db.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
    elif url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        with open(f"{url.database}.migrate-lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
    else:
        yield
