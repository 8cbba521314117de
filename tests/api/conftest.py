"""The customer collection's tests (test_customers_*.py): the customers they store and how they read answers."""

import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

URL = "/api/customers"
PROBLEM_KEYS = {"type", "title", "status", "detail", "request_id"}

YANK = {
    "id": "yank",
    "email": "Yank.Deboo@Example.com",
    "first_name": "  Yank ",
    "last_name": " Deboo",
    "phone_number": "(323) 555-1234",
    "client_member_id": "9436555",
    "account_id": 12,
    "document": "529.982.247-25",
    "country": "us",
    "language": "EN",
}
YANK_STORED = {
    "id": "yank",
    "email": "yank.deboo@example.com",
    "first_name": "Yank",
    "last_name": "Deboo",
    "phone_number": "+13235551234",
    "client_member_id": "9436555",
    "account_id": 12,
    "document": "52998224725",
    "country": "US",
    "language": "en",
}


def problem(response, status: int, field: str | None = None) -> dict:
    """Check a problem+json answer and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    if field is not None:
        assert field in [error["field"] for error in body["errors"]], body
    return body


def listing(client, **params) -> list[dict]:
    """One page of the collection (up to 100 items)."""
    response = client.get(URL, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


@pytest.fixture
def yank(client):
    """A stored customer with every field set, and its ETag."""
    response = client.post(URL, json=YANK)
    assert response.status_code == 201, response.text
    return response.json() | {"etag": response.headers["etag"]}


@pytest.fixture
def people(make_customer):
    """Five customers, created in this order: cat, dan, bob, eve, ann."""
    make_customer(
        id="cat",
        email="cat@example.com",
        first_name="Cat",
        last_name="Jones",
        phone_number="+13235551234",
        account_id=2,
        client_member_id="M1",
        document="111.444.777-35",
    )
    make_customer(id="dan", email=None, first_name="Dan", last_name="Young", client_member_id="M3")
    make_customer(
        id="bob",
        email="bob@example.com",
        first_name="Bob",
        last_name="Annan",
        phone_number="+13235551235",
        account_id=1,
        client_member_id="M2",
    )
    make_customer(id="eve", email="eve@example.com", first_name="Eve", client_member_id="M5")
    make_customer(
        id="ann",
        email="ann.smith@example.com",
        first_name="Ann",
        last_name="Smith",
        phone_number="+13235551234",
        account_id=1,
        client_member_id="M1",
        document="529.982.247-25",
    )


class Partner:
    """A real HTTP server on 127.0.0.1 playing the partner cashback API."""

    def __init__(self):
        self.mode = "created"
        self.received: list[dict] = []
        self.error_body = json.dumps({"error": "boom"})
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                partner.received.append(body)
                if partner.mode == "slow":
                    time.sleep(1.5)
                status = 500 if partner.mode == "error" else 201
                answer = {
                    "id": len(partner.received),
                    "message": "Cashback criado com sucesso!",
                    "createdAt": "2026-11-22T10:00:00Z",
                }
                if partner.mode == "not_an_object":
                    answer = ["ok"]
                data = json.dumps(answer).encode() if status == 201 else partner.error_body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/cashback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="session")
def partner_server():
    server = Partner()
    yield server
    server.server.shutdown()


@pytest.fixture
def partner(use_settings, partner_server):
    """The partner API, answering 201 unless told otherwise; CASHBACK_API_URL points at it."""
    partner_server.mode, partner_server.received = "created", []
    partner_server.error_body = json.dumps({"error": "boom"})
    use_settings(cashback_api_url=partner_server.url, cashback_api_timeout=Decimal(1))
    return partner_server
