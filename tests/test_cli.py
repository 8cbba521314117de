"""`flask --app app users create` makes staff and admins who can sign in."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a long admin passphrase"


def test_create_admin_with_prompted_password(app, anon_client):
    """Without --password the command asks twice, hidden, and the new admin signs in."""
    runner = app.app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "Root@Example.com", "--role", "admin"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "Created admin root@example.com" in result.output
    tokens = anon_client.post("/api/auth/login", json={"email": "root@example.com", "password": PASSWORD}).json()
    me = anon_client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert me["role"] == "admin"


def test_refused_input_is_a_clear_error(app):
    """A weak password or a taken email exits non-zero with the reason."""
    runner = app.app.test_cli_runner()
    weak = runner.invoke(args=["users", "create", "weak@example.com", "--password", "password"])
    assert weak.exit_code != 0
    assert "password" in weak.output
    ok = runner.invoke(args=["users", "create", "twice@example.com", "--password", PASSWORD])
    assert ok.exit_code == 0
    again = runner.invoke(args=["users", "create", "twice@example.com", "--password", PASSWORD])
    assert again.exit_code != 0
    assert "already exists" in again.output


def run_flask(env: dict, *args: str) -> subprocess.CompletedProcess:
    """Run `flask --app app ...` as a person types it; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.subprocess
def test_the_real_command_line(tmp_path):
    """The command as a person types it, against a fresh database."""
    database = tmp_path / "cli-users.db"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "APP_ENV": "production",
        "SECRET_KEY": "k" * 40,
        "LOG_LEVEL": "WARNING",
    }
    for args in (["db", "upgrade"], ["users", "create", "ops@example.com", "--role", "staff", "--password", PASSWORD]):
        run_flask(env, *args)
    with create_engine(f"sqlite:///{database}").connect() as connection:
        row = connection.execute(text("SELECT role, password_hash FROM users WHERE email = 'ops@example.com'")).one()
    assert row.role == "staff"
    assert row.password_hash.startswith("$argon2id$")
    # Production never creates an admin by itself.
    with create_engine(f"sqlite:///{database}").connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 1


def test_import_users_with_bcrypt_hashes(app, anon_client, tmp_path):
    """Users of the old system sign in with their old passwords; bad rows are reported by line."""
    import bcrypt

    old_hash = bcrypt.hashpw(b"carly era passphrase", bcrypt.gensalt(4)).decode()
    source = tmp_path / "carly-users.csv"
    source.write_text(
        "Email,Password_Hash,Role,First_Name\n"
        f"old.customer@example.com,{old_hash},customer,Olga\n"
        f"old.staff@example.com,{old_hash},staff,\n"
        "broken@example.com,plaintext,customer,\n"
        f"old.customer@example.com,{old_hash},customer,\n",
        encoding="utf-8",
    )
    result = app.app.test_cli_runner().invoke(args=["users", "import", str(source)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 users; refused 2." in result.output
    assert "line 4: password_hash" in result.output
    assert "line 5: " in result.output and "already exists" in result.output
    for email in ("old.customer@example.com", "old.staff@example.com"):
        login = anon_client.post("/api/auth/login", json={"email": email, "password": "carly era passphrase"})
        assert login.status_code == 200
    tokens = anon_client.post(
        "/api/auth/login", json={"email": "old.customer@example.com", "password": "carly era passphrase"}
    ).json()
    me = anon_client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert me["customer"]["first_name"] == "Olga"


@pytest.mark.subprocess
def test_the_command_line_export_writes_only_csv_and_imports_back(tmp_path):
    """`customers export > file` holds the CSV alone (logs go to stderr), and the file imports back."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli-export.db'}",
        "APP_ENV": "development",
        "SECRET_KEY": "k" * 40,
        "LOG_LEVEL": "INFO",
    }
    member_file = tmp_path / "members.csv"
    member_file.write_text("id,first_name,last_name,phone_number\n1,Yank,Deboo,1284628753\n2,Ann,Lee,2642745297\n")

    def flask(*args: str) -> subprocess.CompletedProcess:
        return run_flask(env, *args)

    flask("customers", "import", str(member_file))
    exported = flask("customers", "export")
    assert '"level"' in exported.stderr  # the app did log (the first admin, at INFO)
    lines = exported.stdout.splitlines()
    assert lines[0].startswith("id,")
    assert len(lines) == 3
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli-export-again.db'}"
    again = tmp_path / "exported.csv"
    again.write_text(exported.stdout)
    flask("customers", "import", str(again))
    assert flask("customers", "export").stdout == exported.stdout
