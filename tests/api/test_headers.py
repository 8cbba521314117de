"""Security headers on every answer, the pages' strict policy, no-store on secrets, HSTS, and API_DOCS."""

import base64
import hashlib
import re

import pytest
import yaml

from app import BASE_DIR, SECRET_PATHS, create_app
from tests.api.test_errors import assert_problem
from tests.conftest import TEST_PASSWORD

PAGES = ["/verify?token=abc", "/reset?token=abc"]
ANSWERS = [
    ("GET", "/api/health"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/ui/"),
    ("GET", "/api/ui/swagger-ui.css"),
    ("GET", "/api/customers"),
    ("GET", "/api/nothing-here"),
    ("DELETE", "/api/customers"),
    ("HEAD", "/api/health"),
    ("GET", "/nothing"),
    ("GET", "/static/pages.css"),
    *(("GET", page) for page in PAGES),
    ("POST", "/verify"),
    ("POST", "/reset"),
]
SECRET_SCHEMAS = {"#/components/schemas/TokenPair", "#/components/schemas/CreatedApiKey"}


def csp(response) -> dict[str, list[str]]:
    """The Content-Security-Policy as directive -> sources."""
    directives = [part.split() for part in response.headers["content-security-policy"].split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize(("method", "path"), ANSWERS)
def test_every_answer_says_nosniff(anon_client, method, path):
    """Each kind of answer (JSON, problem, HTML, CSS, the docs, HEAD) carries X-Content-Type-Options: nosniff."""
    response = anon_client.request(method, path)
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", PAGES)
def test_token_pages_have_a_strict_policy_and_are_not_kept(anon_client, path):
    """/verify and /reset: nothing inline or from elsewhere, never framed, no Referer, never cached."""
    response = anon_client.get(path)
    assert response.status_code == 200
    policy = csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert not [directive for directive in policy if directive.startswith(("script-src", "style-src"))]
    assert "unsafe" not in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/verify", "/reset"])
def test_pages_answering_a_form_keep_the_policy(anon_client, path):
    """The page a posted form answers with (here a refusal) carries the same headers."""
    response = anon_client.post(path, data={"token": "spent", "password": "x" * 10, "confirmation": "x" * 10})
    assert response.status_code == 400
    assert csp(response)["default-src"] == ["'self'"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", PAGES)
def test_pages_have_nothing_inline_and_their_stylesheet_is_served(anon_client, path):
    """The pages hold no inline script or style; their stylesheet comes from /static/, cached long, nosniff."""
    page = anon_client.get(path).text
    assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", page, re.IGNORECASE)
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert len(stylesheets) == 1 and stylesheets[0].startswith("/static/pages.css?v=")
    css = anon_client.get(stylesheets[0])
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["x-content-type-options"] == "nosniff"
    max_age = int(re.search(r"max-age=(\d+)", css.headers["cache-control"]).group(1))
    assert max_age >= 365 * 24 * 3600


def test_swagger_ui_may_run_only_its_own_inline_script(anon_client):
    """/api/ui/ allows its inline start-up script by hash (never any inline script) and is never framed."""
    response = anon_client.get("/api/ui/")
    assert response.status_code == 200
    policy = csp(response)
    scripts = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert policy["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["referrer-policy"] == "no-referrer"


def test_answers_carrying_tokens_are_not_kept(anon_client, make_user):
    """Login and refresh answers (token pairs) say Cache-Control: no-store."""
    user = make_user("staff")
    login = anon_client.post("/api/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
    assert login.status_code == 200, login.text
    assert login.headers["cache-control"] == "no-store"
    refresh = anon_client.post("/api/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
    assert refresh.status_code == 200, refresh.text
    assert refresh.headers["cache-control"] == "no-store"


def test_a_new_api_key_is_not_kept(client):
    """The one answer showing an API key says Cache-Control: no-store."""
    response = client.post("/api/api-keys", json={"name": "ERP"})
    assert response.status_code == 201, response.text
    assert "key" in response.json()
    assert response.headers["cache-control"] == "no-store"


def test_every_operation_answering_a_secret_is_not_kept():
    """Each operation whose success answer holds a token pair or a new API key is among the no-store paths."""
    spec = yaml.safe_load((BASE_DIR / "swagger.yml").read_text(encoding="utf-8"))
    answering_secrets = {
        "/api" + path
        for path, item in spec["paths"].items()
        for operation in item.values()
        if isinstance(operation, dict)
        for code, answer in operation.get("responses", {}).items()
        if code.startswith("2") and set(re.findall(r"#/components/schemas/\w+", str(answer))) & SECRET_SCHEMAS
    }
    assert answering_secrets == {"/api/auth/login", "/api/auth/refresh", "/api/api-keys"}
    assert answering_secrets <= SECRET_PATHS


def other_app(settings, **overrides):
    """An app on the test database with other settings (no migration: these tests touch no table)."""
    return create_app({**settings, "AUTO_MIGRATE": False, **overrides})


@pytest.mark.parametrize(
    ("app_env", "base_url", "hsts"),
    [
        ("production", "https://customers.example", True),
        ("production", "http://customers.example", False),
        ("test", "https://customers.example", False),
    ],
)
def test_hsts_only_in_production_over_https(app, settings, app_env, base_url, hsts):
    """Strict-Transport-Security is sent on every answer in production when PUBLIC_BASE_URL is https."""
    http = other_app(settings, APP_ENV=app_env, PUBLIC_BASE_URL=base_url).test_client()
    for path in ("/api/health", "/verify?token=abc", "/nothing"):
        response = http.get(path)
        assert ("strict-transport-security" in response.headers) is hsts, path
        if hsts:
            assert response.headers["strict-transport-security"] == "max-age=31536000"


@pytest.mark.parametrize("path", ["/api/ui/", "/api/ui", "/api/ui/swagger-ui.css", "/api/openapi.json"])
def test_api_docs_can_be_turned_off(app, settings, path):
    """With API_DOCS=false the Swagger UI and the spec answer 404 problem+json; the API still works."""
    http = other_app(settings, API_DOCS="false").test_client()
    assert_problem(http.get(path), 404)
    assert http.get("/api/health").status_code == 200


def test_api_docs_are_on_by_default(app, settings):
    """Without the setting, /api/ui/ and the spec are served."""
    http = other_app(settings).test_client()
    assert http.get("/api/ui/").status_code == 200
    assert http.get("/api/openapi.json").status_code == 200
