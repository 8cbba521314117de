"""The floor: a bare Starlette + stdlib sqlite3 version of the customers endpoints, same SQL and JSON shape.

No authentication: the app's bearer check is part of what the app costs. POST /api/auth/login only looks the
user up and verifies the argon2 hash (in a thread, like the app's handlers); it issues no token or session.
POST /api/customers/{id}/orders writes the order, its items, the guarded balance UPDATE and the ledger entry in
one BEGIN IMMEDIATE transaction, in a thread, on that thread's own connection; no activity row, no idempotency.

Serve it like the app: `uvicorn bench.floor_app:app --workers 2` with DATABASE_URL=sqlite:////abs/path.db.
"""

import base64
import math
import os
import secrets
import sqlite3
import threading
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.environment import CUSTOMER_FIELDS

FIELDS = CUSTOMER_FIELDS
SELECT = f"SELECT {', '.join(FIELDS)}, pk FROM customers"
CREATED_AT, PK = FIELDS.index("created_at"), len(FIELDS)  # column positions in SELECT rows
MAX_LIMIT = 100
HASHER = PasswordHasher()  # verify() takes the cost parameters from the stored hash
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format
CENT = Decimal("0.01")


def database_path() -> str:
    """Filesystem path from DATABASE_URL (sqlite:////abs/path)."""
    url = os.environ["DATABASE_URL"]
    if not url.startswith("sqlite:///"):
        raise RuntimeError(f"floor_app needs a sqlite:/// DATABASE_URL, got {url!r}")
    return url[len("sqlite:///") :]


# Each uvicorn worker imports this module in its own process, so this is one connection per worker.
# Queries run on the event loop thread; check_same_thread=False only guards against a stray thread.
DB = sqlite3.connect(database_path(), check_same_thread=False)


WRITERS = threading.local()  # one write connection per threadpool thread: a connection holds one transaction


def writer() -> sqlite3.Connection:
    """This thread's write connection, opened with the app's pragmas; transactions are begun explicitly."""
    conn = getattr(WRITERS, "conn", None)
    if conn is None:
        conn = sqlite3.connect(database_path(), timeout=10.0, isolation_level=None)  # busy_timeout 10 s
        for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
            conn.execute(f"PRAGMA {pragma}")
        WRITERS.conn = conn
    return conn


def money(value) -> Decimal:
    """A Decimal (or a number read back from SQLite) rounded half-up to cents."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def iso_time(stored: str) -> str:
    """'2026-11-22 01:24:25.123456' (SQLAlchemy's SQLite text) -> '2026-11-22T01:24:25.123456Z'."""
    return f"{stored[:10]}T{stored[11:]}Z"


def customer_json(row: tuple) -> dict:
    """The public JSON object of a customer row (the trailing pk is dropped)."""
    customer = dict(zip(FIELDS, row, strict=False))
    customer["created_at"] = iso_time(customer["created_at"])
    customer["updated_at"] = iso_time(customer["updated_at"])
    return customer


def json_response(body, status: int = 200, media_type: str = "application/json") -> Response:
    """Serialise body with orjson."""
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


def problem(status: int, title: str, detail: str) -> Response:
    """An RFC 7807 problem+json response."""
    return json_response(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}, status, "application/problem+json"
    )


def encode_cursor(created_at: str, pk: int) -> str:
    """Opaque keyset cursor for the row after (created_at, pk)."""
    return base64.urlsafe_b64encode(f"{created_at}|{pk}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, int]:
    """Inverse of encode_cursor; raises ValueError when malformed."""
    created_at, _, pk = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
    return created_at, int(pk)


async def health(request: Request) -> Response:
    """Liveness probe."""
    return json_response({"status": "ok"})


async def get_customer(request: Request) -> Response:
    """GET /api/customers/{id}."""
    row = DB.execute(f"{SELECT} WHERE id = ?", (request.path_params["id"],)).fetchone()
    if row is None:
        return problem(404, "Not Found", "customer not found")
    return json_response(customer_json(row))


async def list_customers(request: Request) -> Response:
    """GET /api/customers?limit=&cursor= : keyset page ordered by (created_at, pk)."""
    try:
        limit = min(max(int(request.query_params.get("limit", "20")), 1), MAX_LIMIT)
        cursor = request.query_params.get("cursor")
        after = decode_cursor(cursor) if cursor else None
    except ValueError:
        return problem(400, "Bad Request", "invalid limit or cursor")
    if after is None:
        rows = DB.execute(f"{SELECT} ORDER BY created_at, pk LIMIT ?", (limit + 1,)).fetchall()
    else:
        rows = DB.execute(
            f"{SELECT} WHERE (created_at, pk) > (?, ?) ORDER BY created_at, pk LIMIT ?", (*after, limit + 1)
        ).fetchall()
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1][CREATED_AT], page[-1][PK]) if len(rows) > limit else None
    return json_response({"items": [customer_json(row) for row in page], "next_cursor": next_cursor})


async def login(request: Request) -> Response:
    """POST /api/auth/login {"email", "password"}: look the user up, verify the hash in a thread."""
    try:
        body = orjson.loads(await request.body())
        email, password = body["email"], body["password"]
    except (ValueError, KeyError, TypeError):
        return problem(400, "Bad Request", "expected {email, password}")
    row = DB.execute("SELECT password_hash FROM users WHERE email = ?", (email,)).fetchone()
    try:
        if row is None:
            raise VerificationError
        await run_in_threadpool(HASHER.verify, row[0], password)
    except (VerificationError, InvalidHashError):
        return problem(401, "Unauthorized", "The email or password is not right.")
    return json_response({"access_token": "", "token_type": "Bearer"})


def place_order(customer_id: str, total: Decimal, items: list[tuple[str, Decimal, int]]) -> dict | str:
    """Store an order and credit the customer in one transaction; the response body, or why it was refused."""
    conn, now = writer(), datetime.now(UTC).strftime(SQLITE_TIME)
    order_id, points = secrets.token_urlsafe(12), math.floor(total)
    conn.execute("BEGIN IMMEDIATE")  # writers queue here (busy_timeout), like the app's
    try:
        row = conn.execute("SELECT pk FROM customers WHERE id = ?", (customer_id,)).fetchone()
        codes = sorted({code for code, _, _ in items})
        rates = dict(
            conn.execute(
                f"SELECT code, cashback_percent FROM product_types WHERE code IN ({','.join('?' * len(codes))})", codes
            )
            if codes
            else ()
        )
        if row is None or set(codes) - rates.keys():
            conn.execute("ROLLBACK")
            return "customer not found" if row is None else "unknown product type"
        cashback = money(sum((Decimal(str(rates[code])) / 100 * value * qty for code, value, qty in items), Decimal(0)))
        order_pk = conn.execute(
            "INSERT INTO orders (id, customer_pk, total, points, cashback, status, sold_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, 'active', ?, ?)",
            (order_id, row[0], str(total), points, str(cashback), now, now),
        ).lastrowid
        conn.executemany(
            "INSERT INTO order_items (order_pk, type, value, qty) VALUES (?, ?, ?, ?)",
            [(order_pk, code, str(value), qty) for code, value, qty in items],
        )
        points_balance, cashback_balance = conn.execute(
            "UPDATE customers SET points = points + ?, cashback_balance = cashback_balance + ?"
            " WHERE pk = ? AND cashback_balance + ? >= 0 AND points + ? >= 0 RETURNING points, cashback_balance",
            (points, float(cashback), row[0], float(cashback), points),
        ).fetchone()
        conn.execute(
            "INSERT INTO ledger_entries (customer_pk, kind, points, amount, points_balance, cashback_balance,"
            " order_pk, created_at) VALUES (?, 'order', ?, ?, ?, ?, ?, ?)",
            (row[0], points, str(cashback), points_balance, str(money(cashback_balance)), order_pk, now),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    order = {"id": order_id, "customer_id": customer_id, "total": str(total), "points": points}
    order.update(cashback=str(cashback), status="active", sold_at=iso_time(now), created_at=iso_time(now))
    order["items"] = [{"type": code, "value": str(value), "qty": qty} for code, value, qty in items]
    return {"order": order, "rewards": {"points": points_balance, "cashback_balance": str(money(cashback_balance))}}


async def create_order(request: Request) -> Response:
    """POST /api/customers/{id}/orders {"total", "items": [{"type", "value", "qty"}]}: 201 with the order."""
    try:
        body = orjson.loads(await request.body())
        total = money(Decimal(body["total"]))
        items = [(i["type"], money(Decimal(i["value"])), int(i["qty"])) for i in body.get("items") or []]
    except (ValueError, KeyError, TypeError, InvalidOperation):
        return problem(400, "Bad Request", "expected {total, items: [{type, value, qty}]}")
    if total <= 0 or (items and sum(value * qty for _, value, qty in items) != total):
        return problem(400, "Bad Request", "total must be positive and equal the sum of value x qty")
    result = await run_in_threadpool(place_order, request.path_params["id"], total, items)
    if isinstance(result, str):
        return problem(*((404, "Not Found") if result == "customer not found" else (400, "Bad Request")), result)
    return json_response(result, 201)


app = Starlette(
    routes=[
        Route("/api/health", health),
        Route("/api/auth/login", login, methods=["POST"]),
        Route("/api/customers", list_customers),
        Route("/api/customers/{id}", get_customer),
        Route("/api/customers/{id}/orders", create_order, methods=["POST"]),
    ]
)
