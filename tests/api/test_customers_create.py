"""Creating customers over HTTP: the answer, the stored normal form, generated ids."""

import re

import pytest

from tests.api.conftest import URL, YANK, YANK_STORED

REPRESENTATION_KEYS = {
    "id",
    "email",
    "first_name",
    "last_name",
    "phone_number",
    "client_member_id",
    "account_id",
    "document",
    "country",
    "language",
    "created_at",
    "updated_at",
    "rewards",
}
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# --- create ---------------------------------------------------------------------------------------


def test_create_answers_201_with_location_etag_and_representation(client):
    """Creating answers 201, points Location at the customer, carries an ETag and the stored representation."""
    response = client.post(URL, json=YANK)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["location"] == "/api/customers/yank"
    assert response.headers["etag"]
    body = response.json()
    assert body.keys() == REPRESENTATION_KEYS
    assert {k: body[k] for k in YANK_STORED} == YANK_STORED
    assert body["created_at"].endswith("Z")
    assert body["updated_at"] == body["created_at"]
    fetched = client.get(response.headers["location"])
    assert fetched.json() == body
    assert fetched.headers["etag"] == response.headers["etag"]


@pytest.mark.parametrize(
    ("field", "given", "stored"),
    [
        ("email", "A.B@X.COM", "a.b@x.com"),
        ("first_name", "  Ann ", "Ann"),
        ("last_name", "Smith   ", "Smith"),
        ("phone_number", "(323) 555-1234", "+13235551234"),
        ("phone_number", "+44 20 7946 0958", "+442079460958"),
        ("document", "529.982.247-25", "52998224725"),
        ("country", "us", "US"),
        ("language", "EN", "en"),
        ("client_member_id", " 9436555 ", "9436555"),
        ("account_id", 2147483647, 2147483647),
    ],
)
def test_create_stores_the_normalised_form(client, field, given, stored):
    """Each field is stored in its normal form, as the answer and a later GET both show."""
    response = client.post(URL, json={"client_member_id": "m1", field: given})
    assert response.status_code == 201, response.text
    assert response.json()[field] == stored
    assert client.get(response.headers["location"]).json()[field] == stored


def test_generated_ids_are_distinct_and_url_safe(client):
    """Without an id the service makes one of 1..64 URL-safe characters, different for each customer."""
    first = client.post(URL, json={"email": "a@example.com"}).json()["id"]
    second = client.post(URL, json={"email": "b@example.com"}).json()["id"]
    assert ID_PATTERN.match(first)
    assert ID_PATTERN.match(second)
    assert first != second
