"""The migrations and the models describe the same schema, and the migration CLI works."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from models import db
from services.schema import current_revision, head_revision

ROOT = Path(__file__).resolve().parent.parent


def test_autogenerate_finds_no_difference(app):
    """After upgrading to head, the database matches the models exactly (on this run's backend)."""
    with app.app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            diff
            for diff in compare_metadata(context, db.metadata)
            if not (diff[0] == "remove_table" and diff[1].name.startswith("sqlite_"))
        ]
    assert differences == []


def test_database_is_at_head(app):
    """AUTO_MIGRATE brought the test database to the newest revision."""
    with app.app.app_context():
        assert current_revision() == head_revision()


def _flask(args: list[str], database: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "APP_ENV": "development",
        "SECRET_KEY": "k" * 40,
        "AUTO_MIGRATE": "false",
        "LOG_FORMAT": "text",
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.subprocess
def test_flask_db_upgrade_and_downgrade(tmp_path):
    """`flask --app app db upgrade` creates the schema; downgrade removes it; upgrade again works."""
    database = tmp_path / "cli.db"
    for args in (["upgrade"], ["downgrade", "base"], ["upgrade"]):
        result = _flask(args, database)
        assert result.returncode == 0, result.stdout + result.stderr
    current = _flask(["current"], database)
    assert head_revision() in current.stdout
