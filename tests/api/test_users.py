"""User management by admins: staff accounts, roles, listing."""

import pytest

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
