"""Build the cached benchmark SQLite database: schema from the app's migrations, fake customers, a staff user."""

import hashlib
import json
import random
import sqlite3
import subprocess
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher, Type

from bench.environment import CUSTOMER_FIELDS, DATA_DIR, ROOT, STAFF_EMAIL, STAFF_PASSWORD, app_env, python_exe

SEED_VERSION = 2  # bump whenever customer_rows() or the staff user changes, to invalidate cached databases
FIRST_NAMES = (
    "Ana",
    "Bruno",
    "Carla",
    "David",
    "Elena",
    "Felipe",
    "Grace",
    "Hugo",
    "Iris",
    "John",
    "Karin",
    "Luis",
    "Maria",
    "Nina",
    "Otto",
    "Paula",
    "Rafael",
    "Sofia",
    "Tomas",
    "Vera",
)
LAST_NAMES = (
    "Almeida",
    "Brown",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hoffmann",
    "Ito",
    "Jones",
    "Keller",
    "Lima",
    "Martin",
    "Nunes",
    "Oliveira",
    "Perez",
    "Rossi",
    "Silva",
)
LOCALES = (
    ("US", "en"),
    ("BR", "pt"),
    ("GB", "en"),
    ("DE", "de"),
    ("FR", "fr"),
    ("CA", "en"),
    ("MX", "es"),
    ("ES", "es"),
    ("PT", "pt"),
    ("IT", "it"),
)
ACCOUNTS = 100
CREATED_START = datetime(2025, 1, 1)
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format
COLUMNS = ("pk", *CUSTOMER_FIELDS, "version")

# Used only when the app's migrations are absent (floor-only runs); mirrors the migrations' tables.
FALLBACK_DDL = """
CREATE TABLE customers (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    id VARCHAR(64) NOT NULL UNIQUE,
    email VARCHAR(254) UNIQUE,
    first_name VARCHAR(64),
    last_name VARCHAR(64),
    phone_number VARCHAR(16),
    client_member_id VARCHAR(32),
    account_id INTEGER,
    document VARCHAR(11) UNIQUE,
    country VARCHAR(2),
    language VARCHAR(2),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    version INTEGER NOT NULL,
    points INTEGER DEFAULT '0' NOT NULL,
    cashback_balance NUMERIC(12, 2) DEFAULT '0' NOT NULL CHECK (cashback_balance >= 0),
    UNIQUE (account_id, phone_number),
    UNIQUE (account_id, client_member_id)
);
CREATE INDEX ix_customers_created_at_pk ON customers (created_at, pk);
CREATE INDEX ix_customers_last_name_pk ON customers (last_name, pk);
CREATE INDEX ix_customers_points_pk ON customers (points, pk);
-- Only what the floor's login reads.
CREATE TABLE users (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    email VARCHAR(254) NOT NULL UNIQUE,
    password_hash VARCHAR(255) NOT NULL
);
-- Only what the floor's orders write.
CREATE TABLE product_types (code VARCHAR(16) PRIMARY KEY, cashback_percent NUMERIC(5, 2) NOT NULL);
INSERT INTO product_types VALUES ('A', 5), ('B', 1), ('C', 8), ('D', 10);
CREATE TABLE orders (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    id VARCHAR(32) NOT NULL UNIQUE,
    customer_pk INTEGER REFERENCES customers (pk) ON DELETE SET NULL,
    total NUMERIC(12, 2) NOT NULL CHECK (total > 0),
    points INTEGER NOT NULL,
    cashback NUMERIC(12, 2) NOT NULL,
    status VARCHAR(16) NOT NULL CHECK (status IN ('active', 'reversed')),
    sold_at DATETIME NOT NULL,
    external_id VARCHAR(64) UNIQUE,
    created_at DATETIME NOT NULL,
    reversed_at DATETIME
);
CREATE INDEX ix_orders_created_at_pk ON orders (created_at, pk);
CREATE INDEX ix_orders_customer_pk_pk ON orders (customer_pk, pk);
CREATE TABLE order_items (
    pk INTEGER PRIMARY KEY,
    order_pk INTEGER NOT NULL REFERENCES orders (pk) ON DELETE CASCADE,
    type VARCHAR(16) NOT NULL REFERENCES product_types (code) ON DELETE RESTRICT,
    value NUMERIC(12, 2) NOT NULL,
    qty INTEGER NOT NULL,
    CHECK (value > 0 AND qty > 0)
);
CREATE INDEX ix_order_items_order_pk ON order_items (order_pk);
CREATE INDEX ix_order_items_type ON order_items (type);
CREATE TABLE ledger_entries (
    pk INTEGER PRIMARY KEY,
    customer_pk INTEGER REFERENCES customers (pk) ON DELETE SET NULL,
    kind VARCHAR(16) NOT NULL CHECK (kind IN ('order', 'reversal', 'redemption', 'signup_bonus')),
    points INTEGER NOT NULL,
    amount NUMERIC(12, 2) NOT NULL,
    points_balance INTEGER NOT NULL,
    cashback_balance NUMERIC(12, 2) NOT NULL,
    order_pk INTEGER REFERENCES orders (pk) ON DELETE RESTRICT,
    actor VARCHAR(64),
    created_at DATETIME NOT NULL
);
CREATE INDEX ix_ledger_entries_customer_pk_pk ON ledger_entries (customer_pk, pk);
CREATE INDEX ix_ledger_entries_order_pk ON ledger_entries (order_pk);
"""
# Without the app (floor-only fallback), hash like services/passwords.py does: argon2id, m=19 MiB, t=2, p=1.
FALLBACK_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)


def has_migrations() -> bool:
    """Whether the app and its alembic migrations exist in the tree."""
    has_app = (ROOT / "app.py").exists() or (ROOT / "app" / "__init__.py").exists()
    return has_app and (ROOT / "migrations").is_dir()


def migrations_fingerprint() -> str:
    """Hash of every file under migrations/, so a new revision invalidates the cached database."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "migrations").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(rows: int, use_migrations: bool) -> dict:
    """What the cached database depends on."""
    schema = migrations_fingerprint() if use_migrations else hashlib.sha256(FALLBACK_DDL.encode()).hexdigest()
    return {
        "rows": rows,
        "seed_version": SEED_VERSION,
        "schema": "migrations" if use_migrations else "ddl",
        "schema_hash": schema,
        "staff": STAFF_EMAIL,
        "staff_password_sha256": hashlib.sha256(STAFF_PASSWORD.encode()).hexdigest(),
    }


def cpf(base: int) -> str:
    """An 11-digit Brazilian CPF with valid check digits from a 9-digit base number."""
    digits = [int(c) for c in f"{base:09d}"]
    for weight_start in (10, 11):
        total = sum(d * w for d, w in zip(digits, range(weight_start, 1, -1), strict=True))
        digits.append(0 if total % 11 < 2 else 11 - total % 11)
    return "".join(map(str, digits))


def customer_rows(count: int):
    """Yield deterministic customers: unique ids/emails/documents, unique phones per account, increasing created_at.

    Each row is a dict by column; a field of the app's table this does not fill is inserted as NULL.
    """
    rng = random.Random(20251122)
    empty = dict.fromkeys(COLUMNS)
    for i in range(count):
        country, language = LOCALES[i % len(LOCALES)]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = CREATED_START + timedelta(seconds=60 * i, microseconds=rng.randrange(1_000_000))
        yield {
            **empty,
            "pk": i + 1,
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "email": f"{first}.{last}.{i}@example.com".lower(),
            "first_name": first,
            "last_name": last,
            "phone_number": f"+1323{200 + i // 10_000:03d}{i % 10_000:04d}",  # unique for i < 8,000,000
            "client_member_id": f"M{i:08d}",
            "account_id": 1 + i % ACCOUNTS,
            "document": cpf((i * 7919 + 12_345_678) % 1_000_000_000),  # 7919 is coprime with 10**9: unique bases
            "country": country,
            "language": language,
            "created_at": created.strftime(SQLITE_TIME),
            "updated_at": created.strftime(SQLITE_TIME),
            "version": 1,
        }


def run_flask(db_path: Path, what: str, *flask_args: str) -> None:
    """Run `flask --app app ...` against db_path; a non-zero exit is a RuntimeError naming `what`."""
    result = subprocess.run(
        [python_exe(), "-m", "flask", "--app", "app", *flask_args],
        cwd=ROOT,
        env=app_env(db_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        output = (result.stderr or result.stdout)[-2000:]
        raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{output}")


def run_migrations(db_path: Path) -> None:
    """Create the schema with the app's own alembic migrations (`flask --app app db upgrade`)."""
    run_flask(db_path, "migration", "db", "upgrade")


# The bench's staff user, made with the app's own CLI (argon2id hash, password policy).
STAFF_USER_COMMAND = ("users", "create", STAFF_EMAIL, "--role", "staff", "--password", STAFF_PASSWORD)


def create_staff_user(db_path: Path) -> None:
    """Create the bench's staff user in db_path."""
    run_flask(db_path, "creating the staff user", *STAFF_USER_COMMAND)


def insert_customers(db_path: Path, rows: int) -> None:
    """Bulk insert the fake customers in one transaction."""
    placeholders = ", ".join(f":{name}" for name in COLUMNS)
    with sqlite3.connect(db_path) as conn:
        conn.executemany(f"INSERT INTO customers ({', '.join(COLUMNS)}) VALUES ({placeholders})", customer_rows(rows))
    conn.close()


def remove_database(db_path: Path) -> None:
    """Delete a SQLite file and its sidecars."""
    # A stale -wal left beside a new file would be replayed into it (the app runs in WAL mode).
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def checkpoint(db_path: Path) -> None:
    """Fold the -wal into the file: flask exits without closing its pooled connections, so the CLI's writes
    may still sit in a -wal that renaming the main file would leave behind."""
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()  # the last connection to close removes the -wal and -shm


def build_database(db_path: Path, rows: int, use_migrations: bool) -> None:
    """Create a fresh database at db_path (schema, customers, staff user), all in the main file."""
    remove_database(db_path)
    if use_migrations:
        run_migrations(db_path)
    else:
        with sqlite3.connect(db_path) as conn:
            conn.executescript(FALLBACK_DDL)
        conn.close()
    insert_customers(db_path, rows)
    if use_migrations:
        create_staff_user(db_path)
    else:
        with sqlite3.connect(db_path) as conn:
            conn.execute(
                "INSERT INTO users (email, password_hash) VALUES (?, ?)",
                (STAFF_EMAIL, FALLBACK_HASHER.hash(STAFF_PASSWORD)),
            )
        conn.close()
    checkpoint(db_path)


def write_ids_file(db_path: Path, ids_path: Path) -> None:
    """Write every public customer id, one per line, for the load generators."""
    with sqlite3.connect(db_path) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM customers ORDER BY pk")]
    conn.close()
    ids_path.write_text("\n".join(ids) + "\n")


def ensure_customers_db(rows: int, use_migrations: bool, rebuild: bool = False) -> tuple[Path, Path]:
    """Return (database, ids file), rebuilding them when the schema, the seed or the row count changed."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    db_path, ids_path = DATA_DIR / "customers.db", DATA_DIR / "customer-ids.txt"
    key_path = DATA_DIR / "customers.key.json"
    key = cache_key(rows, use_migrations)
    cached = key_path.exists() and json.loads(key_path.read_text()) == key
    if rebuild or not cached or not db_path.exists() or not ids_path.exists():
        key_path.unlink(missing_ok=True)
        # Build beside the target and rename, so an interrupted build never leaves a half-seeded cache.
        tmp_path = DATA_DIR / "customers.db.tmp"
        build_database(tmp_path, rows, use_migrations)
        remove_database(db_path)
        tmp_path.replace(db_path)
        remove_database(tmp_path)  # sidecars only, if any
        write_ids_file(db_path, ids_path)
        key_path.write_text(json.dumps(key))
    return db_path, ids_path


def ensure_empty_db(use_migrations: bool, rebuild: bool = False) -> Path:
    """The cached database of the import scenario: schema and staff user, no customers."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    db_path, key_path = DATA_DIR / "import-base.db", DATA_DIR / "import-base.key.json"
    key = cache_key(0, use_migrations)
    cached = key_path.exists() and json.loads(key_path.read_text()) == key
    if rebuild or not cached or not db_path.exists():
        key_path.unlink(missing_ok=True)
        tmp_path = DATA_DIR / "import-base.db.tmp"
        build_database(tmp_path, 0, use_migrations)
        remove_database(db_path)
        tmp_path.replace(db_path)
        remove_database(tmp_path)
        key_path.write_text(json.dumps(key))
    return db_path


def working_copy(db_path: Path, name: str = "run.db") -> Path:
    """A fresh copy of the cached database for the servers, so the sessions logins write never reach the cache."""
    copy_path = DATA_DIR / name
    remove_database(copy_path)
    # The backup API copies a consistent database even if a killed server left a -wal beside the source.
    with sqlite3.connect(db_path) as source, sqlite3.connect(copy_path) as target:
        source.backup(target)
    source.close()
    target.close()
    return copy_path
