"""Every operation is protected as the roles say; forged, expired and revoked credentials change nothing."""

import asyncio
import re
import time

import jwt
import pytest
import yaml

from tests.conftest import TEST_SECRET_KEY

PUBLIC = {
    "health",
    "ready",
    "signup",
    "login",
    "refresh",
    "request_reset",
    "confirm_reset",
    "verify_email",
    "confirm_email_change",
    "metrics",  # no user's token: METRICS_TOKEN guards it (tests/api/test_metrics.py)
}


def operations():
    """(method, path, operationId, x-roles) of every operation in swagger.yml."""
    with open("swagger.yml") as spec_file:
        spec = yaml.safe_load(spec_file)
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                yield method.upper(), path, operation["operationId"], operation.get("x-roles")


def concrete(path: str) -> str:
    return path.replace("{customer}", "someone").replace("{user_id}", "u1").replace("{key_id}", "k1")


@pytest.mark.parametrize(("method", "path", "operation_id", "roles"), list(operations()), ids=lambda v: str(v))
def test_every_operation_but_the_public_ones_needs_credentials(anon_client, method, path, operation_id, roles):
    """Without a token every non-public operation answers 401 with a Bearer challenge."""
    response = anon_client.request(
        method, "/api" + concrete(path), json={} if method in ("POST", "PUT", "PATCH") else None
    )
    if operation_id in PUBLIC:
        assert roles is None
        assert response.status_code != 401
    else:
        assert roles, f"{operation_id} lists no roles"
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"


def forged(claims: dict, key: str = TEST_SECRET_KEY, algorithm: str = "HS256") -> str:
    now = int(time.time())
    payload = {"sub": "x", "role": "admin", "sid": "s", "jti": "j", "iat": now, "exp": now + 600, "typ": "access"}
    payload.update(claims)
    return jwt.encode(payload, key, algorithm=algorithm)


def unsigned(claims: dict) -> str:
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    now = int(time.time())
    payload = {"sub": "x", "role": "admin", "sid": "s", "jti": "j", "iat": now, "exp": now + 600, "typ": "access"}
    body = jwt.utils.base64url_encode(jwt.utils.force_bytes(__import__("json").dumps({**payload, **claims}))).decode()
    return f"{header}.{body}."


@pytest.fixture
def admin(make_user, bearer_for):
    """A real admin user and the claims its genuine token would carry."""
    user = make_user("admin")
    return user


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda u: forged({"sub": u.id}, key="another-key-entirely-another-key-entirely"), id="other-key"),
        pytest.param(lambda u: unsigned({"sub": u.id}), id="alg-none"),
        pytest.param(lambda u: forged({"sub": u.id, "exp": int(time.time()) - 5}), id="expired"),
        pytest.param(lambda u: forged({"sub": u.id, "typ": "refresh"}), id="refresh-as-access"),
        pytest.param(
            lambda u: forged({"sub": u.id}, algorithm="HS512"),
            id="other-algorithm",
            marks=pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
        ),
        pytest.param(lambda u: "not.a.jwt", id="garbage"),
    ],
)
def test_forged_or_expired_tokens_are_refused_and_change_nothing(anon_client, client, admin, make_token):
    """Each bad token is a 401, and a write attempted with it stores nothing."""
    headers = {"Authorization": f"Bearer {make_token(admin)}"}
    assert anon_client.get("/api/customers", headers=headers).status_code == 401
    attempt = anon_client.post("/api/customers", headers=headers, json={"email": "x@example.com"})
    assert attempt.status_code == 401
    assert client.get("/api/customers").json()["items"] == []


def test_a_real_refresh_token_is_not_an_access_token(anon_client, client, admin):
    """A refresh token presented as a bearer token is refused."""
    from tests.conftest import TEST_PASSWORD

    pair = anon_client.post("/api/auth/login", json={"email": admin.email, "password": TEST_PASSWORD}).json()
    response = anon_client.get("/api/auth/me", headers={"Authorization": f"Bearer {pair['refresh_token']}"})
    assert response.status_code == 401


def test_a_deactivated_users_tokens_stop_working(client, client_as, make_user, bearer_for, anon_client):
    """Deactivating a user ends their sessions at once."""
    staff = make_user("staff")
    headers = bearer_for(staff)
    assert anon_client.get("/api/customers", headers=headers).status_code == 200
    assert client.patch(f"/api/users/{staff.id}", json={"active": False}).status_code == 200
    assert anon_client.get("/api/customers", headers=headers).status_code == 401
    from tests.conftest import TEST_PASSWORD

    login = anon_client.post("/api/auth/login", json={"email": staff.email, "password": TEST_PASSWORD})
    assert login.status_code == 401


def test_customers_see_only_their_own_record(client, client_as, app):
    """A customer reads their own record; another customer's is a 404, the list is a 403."""
    other = client.post("/api/customers", json={"email": "other@example.com"}).json()
    customer = client_as("customer")
    me = customer.get("/api/auth/me").json()
    own = me["customer"]["id"]
    assert customer.get(f"/api/customers/{own}").status_code == 200
    assert customer.patch(f"/api/customers/{own}", json={"first_name": "Me"}).status_code == 200
    assert customer.get(f"/api/customers/{other['id']}").status_code == 404
    assert customer.get("/api/customers/other@example.com").status_code == 404
    assert customer.patch(f"/api/customers/{other['id']}", json={"first_name": "X"}).status_code == 404
    assert customer.get("/api/customers").status_code == 403
    assert customer.delete(f"/api/customers/{own}").status_code == 403
    assert client.get(f"/api/customers/{other['id']}").json()["first_name"] is None


@pytest.mark.parametrize(
    ("role", "method", "path", "status"),
    [
        ("staff", "GET", "/api/customers", 200),
        ("staff", "DELETE", "/api/customers/nobody", 403),
        ("staff", "GET", "/api/users", 403),
        ("staff", "GET", "/api/api-keys", 403),
        ("staff", "GET", "/api/activity", 200),
        ("customer", "GET", "/api/activity", 403),
        ("customer", "GET", "/api/users", 403),
        ("admin", "DELETE", "/api/customers/nobody", 404),
    ],
)
def test_roles_decide_what_each_caller_may_do(client_as, role, method, path, status):
    """The x-roles of each operation are enforced."""
    assert client_as(role).request(method, path).status_code == status


def refused_roles():
    """(method, path, operation) for each person's role an operation does not list under x-roles."""
    with open("swagger.yml") as spec_file:
        spec = yaml.safe_load(spec_file)
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and operation.get("x-roles"):
                for role in sorted({"admin", "staff", "customer"} - set(operation["x-roles"])):
                    yield pytest.param(role, method.upper(), path, operation, id=f"{role}-{operation['operationId']}")


@pytest.mark.parametrize(("role", "method", "path", "operation"), list(refused_roles()))
def test_every_operation_refuses_the_roles_it_does_not_list(client_as, role, method, path, operation):
    """A valid request (the spec's own example body) by a role missing from x-roles is a 403.

    This also proves that the roles are found by the operation id Connexion reports (x-openapi-router-controller
    and operationId), since an operation with no roles found would run.
    """
    kwargs = {}
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        kwargs["json"] = content["application/json"]["example"]
    elif "text/csv" in content:
        kwargs.update(content=content["text/csv"]["example"], headers={"Content-Type": "text/csv"})
    path = re.sub(r"\{[a-z_]+\}", "x1", path)
    response = client_as(role).request(method, "/api" + path, **kwargs)
    assert response.status_code == 403, response.text


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE customers; --",
        "<script>alert(1)</script>",
        "Robert'); DELETE FROM users WHERE ('1'='1",
        '" OR 1=1 --',
    ],
)
def test_injection_fragments_are_stored_as_text_or_refused(client, anon_client, text):
    """SQL and script fragments in text fields are data: stored verbatim or refused, never executed."""
    created = client.post(
        "/api/customers", json={"email": "inj@example.com", "first_name": text[:64], "last_name": text[:64]}
    )
    assert created.status_code == 201
    assert created.json()["first_name"] == text[:64]
    assert client.get("/api/customers", params={"q": text[:64]}).status_code == 200
    login = anon_client.post("/api/auth/login", json={"email": text, "password": text + "x" * 10})
    assert login.status_code in (400, 401)
    assert anon_client.post("/api/auth/reset", json={"email": text}).status_code in (202, 400)
    assert len(client.get("/api/customers").json()["items"]) == 1


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/signup"])
def test_ten_thousand_character_passwords_are_refused_before_hashing(anon_client, path):
    """A 10,000-character password is a 400 naming `password`, answered without hashing it."""
    started = time.perf_counter()
    response = anon_client.post(path, json={"email": "long@example.com", "password": "p" * 10_000})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "password"
    assert time.perf_counter() - started < 1


def test_reset_token_of_another_user_or_expired_is_refused(app, anon_client, make_user, mailbox):
    """An expired reset token is a 400 and changes nothing."""
    from sqlalchemy import update

    from models import OneTimeToken, db
    from models.types import utcnow
    from tests.conftest import TEST_PASSWORD, link_token

    user = make_user("staff", email="reset-me@example.com")
    anon_client.post("/api/auth/reset", json={"email": user.email})
    token = link_token(mailbox.wait_for(user.email, "Reset"), "reset")
    with app.app.app_context():
        db.session.execute(update(OneTimeToken).values(expires_at=utcnow()))
        db.session.commit()
    response = anon_client.post("/api/auth/reset/confirm", json={"token": token, "password": "another passphrase"})
    assert response.status_code == 400
    login = anon_client.post("/api/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
    assert login.status_code == 200


def test_an_upload_is_refused_before_its_body_is_read(app, client_as):
    """A customer's 1 GiB upload to the staff-only import gets 403 with none of its body read."""
    authorization = client_as("customer").headers["Authorization"].encode()
    chunks_read = 0

    async def receive():
        nonlocal chunks_read
        chunks_read += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/customers/import",
        "raw_path": b"/api/customers/import",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", authorization),
            (b"content-type", b"multipart/form-data; boundary=b"),
            (b"content-length", str(1024**3).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 403
    assert chunks_read == 0
