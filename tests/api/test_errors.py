"""Every failure is a problem+json document with the request id, never an HTML page or a traceback."""

import pytest

from app import create_app

PROBLEM_KEYS = {"type", "title", "status", "detail", "request_id"}


def assert_problem(response, status: int, field: str | None = None) -> dict:
    """Check the common shape of a problem answer and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    if field is not None:
        assert field in [error["field"] for error in body["errors"]], body
    return body


@pytest.mark.parametrize("path", ["/api/nothing-here", "/api/customers/a/b", "/nothing", "/api"])
def test_unknown_paths_are_404_problems(client, path):
    """An address that does not exist answers 404 problem+json, inside and outside /api."""
    assert_problem(client.get(path), 404)


@pytest.mark.parametrize(("method", "path"), [("delete", "/api/customers"), ("post", "/api/health")])
def test_wrong_method_is_405(client, method, path):
    """A known address with a method it does not take answers 405."""
    assert_problem(client.request(method.upper(), path), 405)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/customers", "GET, HEAD, POST"),
        ("POST", "/api/customers/someone", "DELETE, GET, HEAD, PATCH, PUT"),
        ("GET", "/api/auth/login", "POST"),
        ("PUT", "/api/cashback/s1", "GET, HEAD"),
        ("OPTIONS", "/api/customers/export", "GET, HEAD"),
        ("OPTIONS", "/api/customers/import", "POST"),
    ],
)
def test_405_allows_every_method_of_the_path(client, method, path, allow):
    """The Allow header of a 405 lists every method the path takes, not only the first operation's."""
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow


def test_wrong_content_type_is_415(client):
    """A body that is not JSON where JSON is expected answers 415."""
    response = client.post(
        "/api/customers", content=b"email=a@example.com", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert_problem(response, 415)


@pytest.mark.parametrize("body", [b"{", b"{'email': 'a@example.com'}", b"\xff\xfe", b"[1,"])
def test_malformed_json_is_400_on_body(client, body):
    """A body that does not parse as JSON answers 400 naming `body`."""
    response = client.post("/api/customers", content=body, headers={"content-type": "application/json"})
    assert_problem(response, 400, field="body")


def test_empty_body_is_400_on_body(client):
    """A POST without a body answers 400 naming `body`."""
    response = client.post("/api/customers", content=b"", headers={"content-type": "application/json"})
    assert_problem(response, 400, field="body")


def test_oversized_body_is_413_and_stores_nothing(client):
    """A body over MAX_REQUEST_BYTES is refused before it is read."""
    padding = "x" * (1024 * 1024)
    response = client.post("/api/customers", json={"email": "a@example.com", "first_name": padding})
    assert_problem(response, 413)
    assert client.get("/api/customers").json()["items"] == []


def test_unknown_field_is_named(client):
    """An extra property in a body answers 400 naming it."""
    body = assert_problem(client.post("/api/customers", json={"email": "a@example.com", "nickname": "x"}), 400)
    assert body["errors"] == [{"field": "nickname", "message": "is not a known field"}]


def test_unknown_query_parameter_is_named(client):
    """Query parameters outside the spec are refused by name."""
    assert_problem(client.get("/api/customers?colour=red"), 400, field="colour")


def test_server_errors_reveal_no_internals(tmp_path):
    """A failure inside the service answers 500 without a traceback, SQL or file paths."""
    broken = create_app(
        {
            "APP_ENV": "test",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'unmigrated.db'}",
            "AUTO_MIGRATE": False,
            "LOG_LEVEL": "CRITICAL",
        }
    )
    token = broken.app.extensions["token_codec"].issue_access(user_id="u1", role="admin", session_id="s1").token
    response = broken.test_client().get("/api/customers", headers={"Authorization": f"Bearer {token}"})
    body = assert_problem(response, 500)
    text = response.text.lower()
    for leak in ("traceback", "select", "sqlite", "customers.py", "operationalerror"):
        assert leak not in text
    assert body["detail"] == "The server could not handle this request."
