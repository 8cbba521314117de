"""Changing customers over HTTP: PUT and PATCH, If-Match, DELETE, and references by email."""

from datetime import datetime

import pytest

from tests.api.conftest import URL, YANK, YANK_STORED, ids, listing, problem


def when(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


# --- PUT and PATCH --------------------------------------------------------------------------------


def test_put_replaces_every_field(client, yank):
    """PUT stores exactly the given fields; every absent one becomes null; id and created_at stay."""
    response = client.put(f"{URL}/yank", json={"email": "New@Example.com", "first_name": " New "})
    assert response.status_code == 200, response.text
    expected = dict.fromkeys(YANK_STORED, None) | {"id": "yank", "email": "new@example.com", "first_name": "New"}
    body = response.json()
    assert {k: body[k] for k in expected} == expected
    assert body["created_at"] == yank["created_at"]
    assert client.get(f"{URL}/yank").json() == body


def test_patch_changes_given_fields_and_clears_nulls(client, yank):
    """PATCH changes the given fields, clears those given as null, and keeps the absent ones."""
    response = client.patch(
        f"{URL}/yank", json={"first_name": "Y", "country": None, "phone_number": "+44 20 7946 0958"}
    )
    assert response.status_code == 200, response.text
    expected = YANK_STORED | {"first_name": "Y", "country": None, "phone_number": "+442079460958"}
    body = response.json()
    assert {k: body[k] for k in expected} == expected
    assert client.get(f"{URL}/yank").json() == body


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("put", {"first_name": "Yank", "account_id": 12}),
        ("put", {"email": None}),
        ("patch", {"email": None, "phone_number": None, "client_member_id": None, "document": None}),
    ],
)
def test_change_leaving_no_contact_is_400(client, yank, method, body):
    """A PUT or PATCH that would leave no email, phone, member id or document is 400 on `body`; nothing changes."""
    before = client.get(f"{URL}/yank").json()
    problem(getattr(client, method)(f"{URL}/yank", json=body), 400, "body")
    assert client.get(f"{URL}/yank").json() == before


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "bad"}, "email"),
        ({"id": "other"}, "id"),
        ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ({"phone_number": "12"}, "phone_number"),
        ({"document": "111.111.111-11"}, "document"),
        ({"account_id": 0}, "account_id"),
        ({"language": "zz"}, "language"),
        ([], "body"),
    ],
)
def test_change_with_bad_input_is_400_and_changes_nothing(client, yank, method, body, field):
    """Invalid fields in a PUT or PATCH are a 400 problem naming them, and the customer stays as it was."""
    before = client.get(f"{URL}/yank")
    problem(getattr(client, method)(f"{URL}/yank", json=body), 400, field)
    after = client.get(f"{URL}/yank")
    assert after.json() == before.json()
    assert after.headers["etag"] == before.headers["etag"]


@pytest.mark.parametrize(
    ("method", "body"),
    [("put", {"email": "other@example.com"}), ("patch", {"first_name": "Other"}), ("patch", {"account_id": None})],
)
def test_change_moves_updated_at_and_etag(client, yank, method, body):
    """A change moves updated_at strictly later and gives a new ETag; created_at stays."""
    response = getattr(client, method)(f"{URL}/yank", json=body)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert when(changed["updated_at"]) > when(yank["updated_at"])
    assert changed["updated_at"].endswith("Z")
    assert changed["created_at"] == yank["created_at"]
    assert response.headers["etag"] != yank["etag"]
    assert client.get(f"{URL}/yank").headers["etag"] == response.headers["etag"]


@pytest.mark.parametrize(
    ("method", "body"),
    [("patch", {}), ("patch", {"email": "YANK.DEBOO@example.com", "first_name": "Yank "}), ("put", YANK)],
)
def test_change_to_the_same_values_keeps_updated_at_and_etag(client, yank, method, body):
    """A PUT or PATCH that changes nothing keeps updated_at and the ETag."""
    body = {k: v for k, v in body.items() if k != "id"}
    response = getattr(client, method)(f"{URL}/yank", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["updated_at"] == yank["updated_at"]
    assert response.headers["etag"] == yank["etag"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "YANK.deboo@example.com"}, "email"),
        ({"document": "52998224725"}, "document"),
        ({"phone_number": "+1 (323) 555-1234", "account_id": 12}, "phone_number"),
        ({"client_member_id": "9436555", "account_id": 12}, "client_member_id"),
    ],
)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_change_to_a_duplicate_is_409_and_changes_nothing(client, yank, make_customer, method, body, field):
    """A PUT or PATCH taking another customer's unique value is a 409 naming the field; both stay as they were."""
    other = make_customer(id="other", email="other@example.com", account_id=12)
    before = listing(client)
    put_body = {"email": other["email"], "account_id": 12} if method == "put" else {}
    response = getattr(client, method)(f"{URL}/other", json=put_body | body)
    assert problem(response, 409)["errors"][0]["field"] == field
    assert listing(client) == before


# --- If-Match -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "body"), [("put", {"email": "new@example.com"}), ("patch", {"first_name": "New"})])
def test_if_match_current_or_star_applies(client, yank, method, body):
    """A change with the current ETag, then one with `*`, both apply."""
    first = getattr(client, method)(f"{URL}/yank", json=body, headers={"If-Match": yank["etag"]})
    assert first.status_code == 200, first.text
    second = client.patch(f"{URL}/yank", json={"last_name": "Star"}, headers={"If-Match": "*"})
    assert second.status_code == 200, second.text
    assert client.get(f"{URL}/yank").json()["last_name"] == "Star"


@pytest.mark.parametrize(
    ("method", "body"),
    [("put", {"email": "new@example.com"}), ("patch", {"first_name": "New"}), ("delete", None)],
)
def test_stale_if_match_is_412_and_changes_nothing(client, yank, method, body):
    """A PUT, PATCH or DELETE with an ETag of an older version is a 412 and leaves the customer as it is."""
    stale = yank["etag"]
    current = client.patch(f"{URL}/yank", json={"first_name": "Moved"})
    kwargs = {"headers": {"If-Match": stale}} | ({"json": body} if body is not None else {})
    problem(getattr(client, method)(f"{URL}/yank", **kwargs), 412)
    after = client.get(f"{URL}/yank")
    assert after.json() == current.json()
    assert after.headers["etag"] == current.headers["etag"]


def test_delete_with_current_if_match(client, yank):
    """DELETE with the current ETag erases the customer."""
    assert client.delete(f"{URL}/yank", headers={"If-Match": yank["etag"]}).status_code == 204
    problem(client.get(f"{URL}/yank"), 404)


# --- DELETE and references by email ---------------------------------------------------------------


def test_delete_erases_and_frees_the_email(client, yank):
    """DELETE answers 204 with no body; then GET and DELETE are 404 and the email can be used again."""
    response = client.delete(f"{URL}/yank")
    assert response.status_code == 204
    assert response.content == b""
    problem(client.get(f"{URL}/yank"), 404)
    problem(client.delete(f"{URL}/yank"), 404)
    again = client.post(URL, json={"email": "yank.deboo@example.com"})
    assert again.status_code == 201, again.text
    assert again.json()["id"] != "yank"


def test_delete_answer_is_not_labelled_a_problem(client, yank):
    """A successful DELETE answers an empty 204 that is not labelled as a problem document."""
    response = client.delete(f"{URL}/yank")
    assert response.status_code == 204
    assert response.content == b""
    assert "problem" not in response.headers.get("content-type", "")


@pytest.mark.parametrize("ref", ["yank.deboo@example.com", "YANK.Deboo@Example.COM"])
def test_put_patch_delete_by_email(client, yank, ref):
    """The path may name the customer by email (any case) for PUT, PATCH and DELETE."""
    assert client.patch(f"{URL}/{ref}", json={"first_name": "P"}).json()["first_name"] == "P"
    put = client.put(f"{URL}/{ref}", json={"email": "yank.deboo@example.com", "last_name": "Q"})
    assert (put.json()["id"], put.json()["first_name"], put.json()["last_name"]) == ("yank", None, "Q")
    assert client.delete(f"{URL}/{ref}").status_code == 204
    assert listing(client) == []


@pytest.mark.parametrize(
    ("method", "body"),
    [("put", {"email": "a@example.com"}), ("patch", {"first_name": "A"}), ("delete", None)],
)
@pytest.mark.parametrize("ref", ["nobody", "nobody@example.com"])
def test_change_of_unknown_customer_is_404(client, yank, method, body, ref):
    """PUT, PATCH and DELETE of an unknown customer are a 404 problem and create nothing."""
    kwargs = {"json": body} if body is not None else {}
    problem(getattr(client, method)(f"{URL}/{ref}", **kwargs), 404)
    assert ids(listing(client)) == ["yank"]
