"""The customer collection's tests (test_customers_*.py): the customers they store and how they read answers."""

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
