"""User management, API keys and the activity trail (admins; staff may read the trail)."""

import pytest

from tests.conftest import TEST_PASSWORD

STAFF_PASSWORD = "a long staff passphrase"


def test_admin_creates_staff_who_can_sign_in(client, anon_client):
    """POST /api/users creates a staff member; the answer never shows a password or hash."""
    response = client.post("/api/users", json={"email": "Bob@Example.com", "password": STAFF_PASSWORD, "role": "staff"})
    assert response.status_code == 201, response.text
    user = response.json()
    assert response.headers["location"] == f"/api/users/{user['id']}"
    assert user["email"] == "bob@example.com"
    assert user["role"] == "staff"
    assert "password" not in response.text and "argon2" not in response.text
    login = anon_client.post("/api/auth/login", json={"email": "bob@example.com", "password": STAFF_PASSWORD})
    assert login.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "c@example.com", "password": STAFF_PASSWORD, "role": "customer"}, "role"),
        ({"email": "c@example.com", "password": "short", "role": "staff"}, "password"),
        ({"email": "nope", "password": STAFF_PASSWORD, "role": "staff"}, "email"),
        ({"email": "c@example.com", "password": STAFF_PASSWORD, "role": "staff", "extra": 1}, "extra"),
    ],
)
def test_bad_user_input_is_400_naming_the_field(client, body, field):
    """Bad input names the field and creates nobody."""
    response = client.post("/api/users", json=body)
    assert response.status_code == 400
    assert field in [e["field"] for e in response.json()["errors"]]
    assert [u["email"] for u in client.get("/api/users").json()["items"] if u["email"] == "c@example.com"] == []


def test_duplicate_user_email_is_409(client):
    """A second user with the same email is refused naming `email`."""
    body = {"email": "dup@example.com", "password": STAFF_PASSWORD, "role": "staff"}
    assert client.post("/api/users", json=body).status_code == 201
    response = client.post("/api/users", json=body)
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "email"


def test_role_change_takes_effect_at_once(client, make_user, bearer_for, anon_client):
    """Promoting staff to admin opens admin operations to their existing token."""
    staff = make_user("staff")
    headers = bearer_for(staff)
    assert anon_client.get("/api/users", headers=headers).status_code == 403
    assert client.patch(f"/api/users/{staff.id}", json={"role": "admin"}).json()["role"] == "admin"
    assert anon_client.get("/api/users", headers=headers).status_code == 200


def test_users_are_listed_by_page_and_role(client, make_user):
    """GET /api/users pages with cursors and filters by role."""
    for _ in range(3):
        make_user("staff")
    first = client.get("/api/users", params={"limit": 2}).json()
    second = client.get("/api/users", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    ids = [u["id"] for u in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 4
    assert second["next_cursor"] is None
    assert {u["role"] for u in client.get("/api/users", params={"role": "staff"}).json()["items"]} == {"staff"}


def test_api_key_is_shown_once_stored_hashed_and_revocable(client, anon_client, app):
    """A new key works as X-API-Key, is never listed again, and stops working once revoked."""
    from sqlalchemy import select

    from models import ApiKey, db

    created = client.post("/api/api-keys", json={"name": "ERP sales feed"})
    assert created.status_code == 201
    key = created.json()
    assert key["key"].startswith("ci_")
    listed = client.get("/api/api-keys").json()["items"]
    assert [k["id"] for k in listed] == [key["id"]]
    assert key["key"] not in str(listed)
    with app.app.app_context():
        assert key["key"] not in db.session.scalars(select(ApiKey.key_hash)).all()
    # Integration keys may not read customers (only the ERP feed, later): authenticated, but forbidden.
    assert anon_client.get("/api/customers", headers={"X-API-Key": key["key"]}).status_code in (401, 403)
    assert client.delete(f"/api/api-keys/{key['id']}").status_code == 204
    assert client.get("/api/api-keys").json()["items"][0]["revoked_at"] is not None
    assert client.delete("/api/api-keys/nope").status_code == 404


def test_activity_records_sign_ins_and_changes(client, anon_client, make_user):
    """Sign-ins, failed sign-ins, customer changes and role changes land in the trail with the request id."""
    staff = make_user("staff")
    anon_client.post("/api/auth/login", json={"email": staff.email, "password": TEST_PASSWORD})
    anon_client.post("/api/auth/login", json={"email": staff.email, "password": "wrong passphrase"})
    created = client.post("/api/customers", json={"email": "trail@example.com"}, headers={"X-Request-ID": "trail-1"})
    client.patch(f"/api/users/{staff.id}", json={"role": "admin"})
    entries = client.get("/api/activity").json()["items"]
    actions = [e["action"] for e in entries]
    for action in ("auth.login", "auth.login_failed", "customer.created", "user.role_changed"):
        assert action in actions
    made = next(e for e in entries if e["action"] == "customer.created")
    assert made["request_id"] == "trail-1"
    assert made["target"] == f"customer:{created.json()['id']}"
    assert made["actor"].startswith("user:")
    assert made["client_address"]
    only_logins = client.get("/api/activity", params={"action": "auth.login"}).json()["items"]
    assert {e["action"] for e in only_logins} == {"auth.login"}
    today = made["at"][:10]
    assert client.get("/api/activity", params={"date": today}).json()["items"]
    assert client.get("/api/activity", params={"date": "2001-01-01"}).json()["items"] == []
    by_actor = client.get("/api/activity", params={"actor": f"user:{staff.id}"}).json()["items"]
    assert {e["action"] for e in by_actor} == {"auth.login", "auth.login_failed"}


def test_activity_pages_newest_first(client):
    """The trail pages with cursors, newest first, each entry once."""
    for n in range(5):
        client.post("/api/customers", json={"email": f"p{n}@example.com"})
    seen, cursor = [], None
    while True:
        page = client.get("/api/activity", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len({e["id"] for e in seen}) == 5
    assert [e["at"] for e in seen] == sorted((e["at"] for e in seen), reverse=True)


@pytest.mark.parametrize("params", [{"date": "yesterday"}, {"date": "2026-13-01"}, {"cursor": "zzz"}])
def test_bad_activity_filters_are_400(client, params):
    """A bad date or cursor names the parameter."""
    response = client.get("/api/activity", params=params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] in params
