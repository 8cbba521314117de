"""Sign-up, sign-in, refresh rotation, sign-out, password reset and change, email verification, /me."""

import asyncio
import re
import threading

import httpx
import pytest

from services import sessions
from tests.conftest import SIGNUP_PASSWORD, TEST_PASSWORD, bearer, link_token, login, signup


@pytest.fixture
def ana_tokens(anon_client, ana_account):
    """A token pair of a fresh sign-in as Ana."""
    response = login(anon_client)
    assert response.status_code == 200, response.text
    return response.json()


def test_signup_creates_a_customer_account_and_mails_a_verify_link(anon_client, ana_account):
    """A new address gets a customer record of its own, usable at once, unverified until the mailed link."""
    tokens = login(anon_client).json()
    me = anon_client.get("/api/auth/me", headers=bearer(tokens)).json()
    assert me["role"] == "customer"
    assert me["email_verified"] is False
    assert me["customer"]["email"] == "ana@example.com"
    assert me["customer"]["first_name"] == "Ana"
    token = link_token(ana_account, "verify")
    assert anon_client.post("/api/auth/verify", json={"token": token}).status_code == 204
    assert anon_client.post("/api/auth/verify", json={"token": token}).status_code == 400
    assert anon_client.get("/api/auth/me", headers=bearer(tokens)).json()["email_verified"] is True


def test_signup_answers_alike_and_mails_the_owner_of_a_taken_address(anon_client, ana_account, mailbox):
    """A second signup for the address (any case) answers as the first did; the owner gets a reset link."""
    first = signup(anon_client, email="newcomer@example.com")
    again = signup(anon_client, email="ANA@example.com", password="another long passphrase")
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert set(again.json()) == {"detail"}
    notice = mailbox.wait_for("ana@example.com", "tried to sign up")
    token = link_token(notice, "reset")
    chosen = "a brand new passphrase"
    assert anon_client.post("/api/auth/reset/confirm", json={"token": token, "password": chosen}).status_code == 204
    assert login(anon_client, password="another long passphrase").status_code == 401
    assert login(anon_client, password=chosen).status_code == 200


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1", "at least 8"),
        ("x" * 129, "at most 128"),
        ("ana@example.com", "email"),
        ("password123", "common"),
        ("qwertyuiop", "common"),
    ],
)
def test_signup_refuses_weak_passwords(anon_client, password, reason):
    """The password policy: 8..128 characters, not the email, not a common password."""
    response = signup(anon_client, password=password)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "password"
    assert reason in error["message"]


def test_login_answers_a_bearer_token_pair(ana_tokens):
    """Login answers access and refresh tokens, their type and lifetime."""
    assert ana_tokens["token_type"] == "Bearer"
    assert ana_tokens["expires_in"] == 900
    assert ana_tokens["access_token"] != ana_tokens["refresh_token"]


def test_me_shows_the_user_and_their_customer(anon_client, ana_tokens):
    """GET /api/auth/me answers who the token belongs to."""
    me = anon_client.get("/api/auth/me", headers=bearer(ana_tokens)).json()
    assert me["email"] == "ana@example.com"
    assert me["role"] == "customer"
    assert me["customer"]["first_name"] == "Ana"
    assert "password" not in str(me).lower()


def test_unknown_email_and_wrong_password_get_the_same_answer(anon_client, ana_account):
    """Sign-in refusals do not tell whether the email exists."""
    unknown = login(anon_client, email="nobody@example.com")
    wrong = login(anon_client, password="not the right passphrase")
    assert unknown.status_code == wrong.status_code == 401
    strip = {"request_id"}
    assert {k: v for k, v in unknown.json().items() if k not in strip} == {
        k: v for k, v in wrong.json().items() if k not in strip
    }


def test_refresh_rotates_and_a_reused_token_ends_the_session(anon_client, ana_tokens):
    """A refresh token works once; presenting it again revokes the whole session."""
    first = anon_client.post("/api/auth/refresh", json={"refresh_token": ana_tokens["refresh_token"]})
    assert first.status_code == 200
    rotated = first.json()
    assert anon_client.get("/api/auth/me", headers=bearer(rotated)).status_code == 200
    replay = anon_client.post("/api/auth/refresh", json={"refresh_token": ana_tokens["refresh_token"]})
    assert replay.status_code == 401
    # The session is gone: the tokens issued by the rotation stop working too.
    assert anon_client.get("/api/auth/me", headers=bearer(rotated)).status_code == 401
    again = anon_client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 401


def test_logout_ends_the_session(anon_client, ana_tokens):
    """After logout the access and refresh tokens of that session are refused."""
    assert anon_client.post("/api/auth/logout", headers=bearer(ana_tokens)).status_code == 204
    assert anon_client.get("/api/auth/me", headers=bearer(ana_tokens)).status_code == 401
    refreshed = anon_client.post("/api/auth/refresh", json={"refresh_token": ana_tokens["refresh_token"]})
    assert refreshed.status_code == 401


def test_reset_always_answers_202(anon_client, ana_account, mailbox):
    """A reset request answers the same for known and unknown emails; only the known one gets mail."""
    known = anon_client.post("/api/auth/reset", json={"email": "ana@example.com"})
    unknown = anon_client.post("/api/auth/reset", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    mailbox.wait_for("ana@example.com", "Reset")
    assert mailbox.to("nobody@example.com") == []


def test_reset_flow_end_to_end(anon_client, ana_tokens, mailbox):
    """Follow the mailed link: the new password works, the old one and every session end, a notice is mailed."""
    anon_client.post("/api/auth/reset", json={"email": "ana@example.com"})
    token = link_token(mailbox.wait_for("ana@example.com", "Reset"), "reset")
    new_password = "a brand new passphrase"
    confirmed = anon_client.post("/api/auth/reset/confirm", json={"token": token, "password": new_password})
    assert confirmed.status_code == 204
    mailbox.wait_for("ana@example.com", "changed")
    assert anon_client.get("/api/auth/me", headers=bearer(ana_tokens)).status_code == 401
    assert login(anon_client).status_code == 401
    assert login(anon_client, password=new_password).status_code == 200
    reused = anon_client.post("/api/auth/reset/confirm", json={"token": token, "password": "yet another passphrase"})
    assert reused.status_code == 400
    assert reused.json()["errors"][0]["field"] == "token"


def test_a_newer_reset_request_invalidates_the_older_link(anon_client, ana_account, mailbox):
    """Only the latest reset link works."""
    anon_client.post("/api/auth/reset", json={"email": "ana@example.com"})
    first = link_token(mailbox.wait_for("ana@example.com", "Reset"), "reset")
    mailbox.messages.clear()
    anon_client.post("/api/auth/reset", json={"email": "ana@example.com"})
    second = link_token(mailbox.wait_for("ana@example.com", "Reset"), "reset")
    old = anon_client.post("/api/auth/reset/confirm", json={"token": first, "password": "a brand new passphrase"})
    assert old.status_code == 400
    new = anon_client.post("/api/auth/reset/confirm", json={"token": second, "password": "a brand new passphrase"})
    assert new.status_code == 204


def test_reset_token_is_stored_only_as_a_hash(app, anon_client, ana_account, mailbox):
    """The database never holds the mailed token itself."""
    from sqlalchemy import select

    from models import OneTimeToken, db

    anon_client.post("/api/auth/reset", json={"email": "ana@example.com"})
    token = link_token(mailbox.wait_for("ana@example.com", "Reset"), "reset")
    with app.app.app_context():
        stored = db.session.scalars(select(OneTimeToken.token_hash)).all()
    assert token not in stored
    assert all(len(value) == 64 for value in stored)


def test_change_password_ends_the_other_sessions(anon_client, ana_account):
    """Changing the password keeps the current session and ends the others."""
    phone = login(anon_client).json()
    laptop = login(anon_client).json()
    new_password = "a brand new passphrase"
    changed = anon_client.post(
        "/api/auth/password",
        headers=bearer(laptop),
        json={"current_password": SIGNUP_PASSWORD, "new_password": new_password},
    )
    assert changed.status_code == 204
    assert anon_client.get("/api/auth/me", headers=bearer(laptop)).status_code == 200
    assert anon_client.get("/api/auth/me", headers=bearer(phone)).status_code == 401
    assert login(anon_client, password=new_password).status_code == 200


def test_change_password_needs_the_current_one(anon_client, ana_tokens):
    """A wrong current password is a 400 naming it, and nothing changes."""
    response = anon_client.post(
        "/api/auth/password",
        headers=bearer(ana_tokens),
        json={"current_password": "not it at all", "new_password": "a brand new passphrase"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "current_password"
    assert login(anon_client).status_code == 200


def test_legacy_bcrypt_hash_is_accepted_and_upgraded(app, anon_client, make_user):
    """A bcrypt hash from the old system signs in and is replaced by argon2id."""
    import bcrypt
    from sqlalchemy import select

    from models import User, db

    user = make_user("staff", email="legacy@example.com")
    with app.app.app_context():
        db.session.get(User, user.pk).password_hash = bcrypt.hashpw(
            b"old system passphrase", bcrypt.gensalt(4)
        ).decode()
        db.session.commit()
    assert login(anon_client, "legacy@example.com", "old system passphrase").status_code == 200
    with app.app.app_context():
        upgraded = db.session.scalar(select(User.password_hash).where(User.pk == user.pk))
    assert upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert login(anon_client, "legacy@example.com", "old system passphrase").status_code == 200


def test_test_users_sign_in_with_the_test_password(anon_client, make_user):
    """Users made by the fixtures carry a real argon2id hash."""
    user = make_user("staff")
    assert login(anon_client, user.email, TEST_PASSWORD).status_code == 200


def follow(client, message, kind: str):
    """Open the mailed link as a browser would (its path and query on this service)."""
    return client.get(f"/{kind}", params={"token": link_token(message, kind)})


def test_the_mailed_verify_link_opens_a_page_that_confirms(anon_client, ana_account):
    """The verify link shows a button; pressing it confirms the address, and GET alone changes nothing."""
    page = follow(anon_client, ana_account, "verify")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    tokens = login(anon_client).json()
    assert anon_client.get("/api/auth/me", headers=bearer(tokens)).json()["email_verified"] is False
    done = anon_client.post("/verify", data={"token": token})
    assert done.status_code == 200
    assert "confirmed" in done.text
    assert anon_client.get("/api/auth/me", headers=bearer(tokens)).json()["email_verified"] is True
    assert anon_client.post("/verify", data={"token": token}).status_code == 400


def test_the_mailed_reset_link_opens_a_form_that_sets_the_password(anon_client, ana_account, mailbox):
    """The reset link shows a form; a mismatch or weak password is refused, a good one is set."""
    anon_client.post("/api/auth/reset", json={"email": "ana@example.com"})
    page = follow(anon_client, mailbox.wait_for("ana@example.com", "Reset"), "reset")
    assert page.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    differ = anon_client.post("/reset", data={"token": token, "password": "one passphrase", "confirmation": "another"})
    assert differ.status_code == 400
    weak = anon_client.post("/reset", data={"token": token, "password": "password", "confirmation": "password"})
    assert weak.status_code == 400
    assert "common" in weak.text
    chosen = "a brand new passphrase"
    done = anon_client.post("/reset", data={"token": token, "password": chosen, "confirmation": chosen})
    assert done.status_code == 200
    assert login(anon_client, password=chosen).status_code == 200


class CountingHasher:
    """The real password hasher, counting the hashes it verifies."""

    def __init__(self, hasher):
        self.hasher, self.verified = hasher, 0

    def verify(self, stored_hash, password):
        self.verified += 1
        return self.hasher.verify(stored_hash, password)

    def __getattr__(self, name):
        return getattr(self.hasher, name)


def test_unknown_email_costs_as_much_as_a_wrong_password(anon_client, ana_account, monkeypatch):
    """Both refusals verify exactly one password hash, so their time does not reveal which emails exist."""
    from services import passwords

    counting = CountingHasher(passwords.HASHER)
    monkeypatch.setattr(passwords, "HASHER", counting)
    verified = {}
    for email in ("nobody@example.com", "ana@example.com"):
        before = counting.verified
        assert login(anon_client, email=email, password="not the right passphrase").status_code == 401
        verified[email] = counting.verified - before
    assert verified == {"nobody@example.com": 1, "ana@example.com": 1}


def test_console_backend_logs_the_message(use_settings, anon_client, caplog):
    """With MAIL_BACKEND=console the whole message, link included, goes to the log."""
    import logging
    import time

    use_settings(mail_backend="console")
    with caplog.at_level(logging.INFO, logger="services.mail"):
        signup(anon_client, email="console@example.com")
        deadline = time.monotonic() + 10
        while "console@example.com" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "mail to console@example.com: Confirm your email address" in logged
    assert "http://customers.test/verify?token=" in logged


def test_a_login_being_checked_never_holds_up_other_requests(app, ana_account, monkeypatch):
    """While one login's password hash is being checked, the same worker answers other requests."""
    hashing, release = threading.Event(), threading.Event()
    checked = sessions.verify_password

    def slow_check(stored, password):
        hashing.set()
        assert release.wait(timeout=30), "the test never let the hash finish"
        return checked(stored, password)

    monkeypatch.setattr(sessions, "verify_password", slow_check)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            credentials = {"email": "ana@example.com", "password": SIGNUP_PASSWORD}
            signing_in = asyncio.create_task(http.post("/api/auth/login", json=credentials))
            assert await asyncio.to_thread(hashing.wait, 30), "the login never reached its hash"
            health = await asyncio.wait_for(http.get("/api/health"), timeout=30)
            release.set()
            return health.status_code, (await signing_in).status_code

    assert asyncio.run(scenario()) == (200, 200)
