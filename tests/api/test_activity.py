"""The activity trail: who did what, with the request id, paged newest first and filtered."""

import pytest

from tests.conftest import TEST_PASSWORD


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
