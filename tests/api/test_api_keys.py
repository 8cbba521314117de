"""Integration API keys: shown once, stored hashed, revocable."""


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
