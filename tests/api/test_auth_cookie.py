"""The console's refresh token cookie: HttpOnly, SameSite=Strict, CSRF-safe, and shared by tabs refreshing at once."""

import threading
from http.cookies import SimpleCookie

import pytest
from flask import Flask

from config import load_settings
from tests.conftest import TEST_PASSWORD, TEST_SECRET_KEY, bearer
from web.refresh_cookie import request_is_https

MODE = {"X-Refresh-Cookie": "1"}
EMAIL = "stella@example.com"


def cookies_of(response) -> SimpleCookie:
    """Every cookie the answer sets, each from its own Set-Cookie header."""
    jar = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return jar


def cookie_of(response, name: str = "refresh_token"):
    """One cookie (a Morsel) the answer sets."""
    jar = cookies_of(response)
    assert name in jar, response.headers.get_list("set-cookie")
    return jar[name]


def post(app, path: str, *, cookie: str | None = None, headers: dict | None = None, **kwargs):
    """One request from a fresh client, so no cookie is carried over unless given."""
    sent = {**(headers or {}), **({"Cookie": f"refresh_token={cookie}"} if cookie else {})}
    if path.endswith("/refresh") and "json" not in kwargs:
        kwargs["json"] = {}  # what the console sends: the token is in the cookie
    return app.test_client().post(path, headers=sent, **kwargs)


def me(app, tokens: dict) -> int:
    return app.test_client().get("/api/auth/me", headers=bearer(tokens)).status_code


@pytest.fixture
def staff(make_user):
    return make_user("staff", email=EMAIL)


@pytest.fixture
def signed_in(app, staff):
    """A console sign-in: its token answer and the refresh cookie's value."""
    response = post(app, "/api/auth/login", headers=MODE, json={"email": EMAIL, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    return response.json(), cookie_of(response).value


def test_console_sign_in_sets_an_httponly_strict_cookie_and_keeps_the_token_out_of_the_body(app, signed_in):
    """With X-Refresh-Cookie: 1 the refresh token is only in the cookie, scoped to the auth paths."""
    tokens, value = signed_in
    assert "refresh_token" not in tokens
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    assert me(app, tokens) == 200
    response = post(app, "/api/auth/login", headers=MODE, json={"email": EMAIL, "password": TEST_PASSWORD})
    morsel = cookie_of(response)
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/api/auth"
    assert not morsel["secure"]  # plain http here
    assert int(morsel["max-age"]) > 0
    # Beside it, a hint the console's scripts read: only whether to try signing back in at the next page load.
    hint = cookie_of(response, "signed_in")
    assert (hint.value, hint["path"], hint["httponly"], hint["samesite"]) == ("1", "/", "", "Strict")
    assert hint["max-age"] == morsel["max-age"]


def test_api_clients_keep_tokens_in_the_body_and_get_no_cookie(app, staff):
    """Without the header, sign-in and refresh answer as they always did."""
    response = post(app, "/api/auth/login", json={"email": EMAIL, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    pair = response.json()
    again = post(app, "/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 200 and "set-cookie" not in again.headers
    assert set(again.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}


def test_the_cookie_refreshes_and_rotates(app, signed_in):
    """A reload signs back in from the cookie; the answer sets the next cookie."""
    _, value = signed_in
    response = post(app, "/api/auth/refresh", cookie=value, headers=MODE)
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    assert me(app, response.json()) == 200
    rotated = cookie_of(response).value
    assert rotated != value
    assert post(app, "/api/auth/refresh", cookie=rotated, headers=MODE).status_code == 200


def test_the_cookie_without_the_header_is_refused_as_cross_site(app, signed_in):
    """A form posted from another site carries the cookie but not the header: 403, and the session lives on."""
    _, value = signed_in
    response = post(app, "/api/auth/refresh", cookie=value)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "X-Refresh-Cookie" in response.json()["detail"]
    assert post(app, "/api/auth/refresh", cookie=value, headers=MODE).status_code == 200


def test_no_token_at_all(app):
    """No body and no cookie: 400 for an API client, 401 (nobody signed in) for the console."""
    assert post(app, "/api/auth/refresh").status_code == 400
    response = post(app, "/api/auth/refresh", headers=MODE)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_repeat_within_the_grace_period_gets_the_same_pair(app, signed_in):
    """Two tabs presenting the same cookie one after the other both stay signed in, with one pair."""
    _, value = signed_in
    first = post(app, "/api/auth/refresh", cookie=value, headers=MODE)
    second = post(app, "/api/auth/refresh", cookie=value, headers=MODE)
    assert first.status_code == second.status_code == 200
    assert first.json()["access_token"] == second.json()["access_token"]
    assert cookie_of(first).value == cookie_of(second).value
    assert me(app, second.json()) == 200
    # The pair handed out twice is one pair: its refresh token still rotates once more.
    assert post(app, "/api/auth/refresh", cookie=cookie_of(second).value, headers=MODE).status_code == 200


def test_a_repeat_after_the_grace_period_ends_the_session(app, signed_in, use_settings):
    """Reuse later than REFRESH_REUSE_GRACE_SECONDS is theft as before: the whole session ends."""
    use_settings(refresh_reuse_grace_seconds=0)
    _, value = signed_in
    first = post(app, "/api/auth/refresh", cookie=value, headers=MODE)
    assert first.status_code == 200
    assert post(app, "/api/auth/refresh", cookie=value, headers=MODE).status_code == 401
    assert me(app, first.json()) == 401
    assert post(app, "/api/auth/refresh", cookie=cookie_of(first).value, headers=MODE).status_code == 401


def test_two_refreshes_at_once_both_succeed_with_the_same_pair(app, signed_in):
    """Tabs racing to refresh with one cookie: neither is taken for a thief."""
    _, value = signed_in
    clients = [app.test_client() for _ in range(2)]
    start = threading.Barrier(len(clients))
    answers = [None] * len(clients)

    def refresh(index: int) -> None:
        start.wait()
        answers[index] = clients[index].post(
            "/api/auth/refresh", headers={**MODE, "Cookie": f"refresh_token={value}"}, json={}
        )

    threads = [threading.Thread(target=refresh, args=(index,)) for index in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
    assert answers[0].json()["access_token"] == answers[1].json()["access_token"]
    assert cookie_of(answers[0]).value == cookie_of(answers[1]).value
    assert me(app, answers[0].json()) == 200


def test_console_sign_out_clears_the_cookie_and_ends_the_session(app, signed_in):
    """After sign-out the cookie is removed and, presented anyway, no longer works."""
    tokens, value = signed_in
    response = app.test_client().post("/api/auth/logout", headers={**MODE, **bearer(tokens)})
    assert response.status_code == 204
    cleared = cookie_of(response)
    assert cleared.value == "" and cleared["max-age"] == "0" and cleared["path"] == "/api/auth"
    hint = cookie_of(response, "signed_in")
    assert hint.value == "" and hint["max-age"] == "0" and hint["path"] == "/"
    assert post(app, "/api/auth/refresh", cookie=value, headers=MODE).status_code == 401


def test_the_cookie_is_secure_over_https(app, staff):
    """A request that came over https gets a Secure cookie."""
    response = app.test_client().post(
        "https://testserver/api/auth/login", headers=MODE, json={"email": EMAIL, "password": TEST_PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert cookie_of(response)["secure"] is True


def test_a_client_cannot_claim_https_unless_through_a_trusted_proxy(app, staff):
    """X-Forwarded-Proto counts only from TRUSTED_PROXIES."""
    response = post(
        app,
        "/api/auth/login",
        headers={**MODE, "X-Forwarded-Proto": "https"},
        json={"email": EMAIL, "password": TEST_PASSWORD},
    )
    assert not cookie_of(response)["secure"]


@pytest.mark.parametrize(
    ("peer", "forwarded_proto", "trusted", "secure"),
    [
        ("10.0.0.5", ["https"], "10.0.0.0/8", True),
        ("10.0.0.5", ["http, https"], "10.0.0.0/8", True),  # the nearest proxy's word is the last
        ("10.0.0.5", ["https, http"], "10.0.0.0/8", False),
        ("203.0.113.9", ["https"], "10.0.0.0/8", False),  # not a trusted proxy
        ("10.0.0.5", [], "10.0.0.0/8", False),
        ("10.0.0.5", ["https"], "", False),  # nobody trusted by default
    ],
)
def test_https_as_told_by_a_trusted_proxy(peer, forwarded_proto, trusted, secure):
    """The scheme a trusted proxy names decides Secure; anyone else's claim is ignored."""
    settings = load_settings({"SECRET_KEY": TEST_SECRET_KEY, "TRUSTED_PROXIES": trusted, "APP_ENV": "test"})
    headers = [("X-Forwarded-Proto", value) for value in forwarded_proto]
    with Flask(__name__).test_request_context(headers=headers, environ_base={"REMOTE_ADDR": peer}) as context:
        assert request_is_https(context.request, settings) is secure


def test_an_unknown_cookie_mode_is_a_400(app, staff):
    """X-Refresh-Cookie takes only 1."""
    response = post(app, "/api/auth/login", headers={"X-Refresh-Cookie": "yes"}, json={"email": EMAIL, "password": "x"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
