"""A client generated from the served spec (openapi-python-client, pinned in requirements-dev.txt) works.

The spec is fetched as served, the generator turns it into a package, and that package signs in, creates,
gets and lists customers on the service running under uvicorn, with the names a client expects: functions
named by the operationIds, models named by the components (Customer, CustomerPage, Problem).
"""

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_PASSWORD
from tests.test_fuzz import server  # noqa: F401 - the running service, a fixture

pytest.importorskip(
    "openapi_python_client", reason="openapi-python-client is not installed (pip install -r requirements-dev.txt)"
)
PACKAGE = "customer_interface_test_client"


@pytest.fixture
def generated(anon_client, tmp_path, monkeypatch):
    """The client package generated from /api/openapi.json, imported."""
    response = anon_client.get("/api/openapi.json")
    assert response.status_code == 200
    spec_path = tmp_path / "openapi.json"
    spec_path.write_text(json.dumps(response.json()))
    config = tmp_path / "generator.yml"
    config.write_text("post_hooks: []\n")  # no formatting of the generated code: ruff may not be on PATH
    argv = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec_path), "--meta", "none"]
    argv += ["--config", str(config)]
    argv += ["--output-path", str(tmp_path / PACKAGE)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # The one thing the generator leaves out is the import's text/csv body (the multipart one stays); no
    # schema may be dropped (a model it cannot build goes missing from the client).
    assert "Unable to process schema" not in result.stdout, result.stdout
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module(PACKAGE)
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
        del sys.modules[name]


@pytest.mark.subprocess
def test_the_generated_client_signs_in_creates_gets_and_lists_customers(generated, server, make_user):  # noqa: F811
    """login, create_customer, get_customer, list_customers through the generated functions and models."""
    api = importlib.import_module(f"{PACKAGE}.api")
    login = importlib.import_module(f"{PACKAGE}.api.auth.login")
    create_customer = importlib.import_module(f"{PACKAGE}.api.customers.create_customer")
    get_customer = importlib.import_module(f"{PACKAGE}.api.customers.get_customer")
    list_customers = importlib.import_module(f"{PACKAGE}.api.customers.list_customers")
    models = generated.models
    assert {"Customer", "CustomerPage", "Problem", "NewCustomer", "Login", "TokenPair", "Me"} <= set(models.__all__)
    # A body or answer without a component of its own gets a made-up name (ApiCustomersCreateCustomerResponse201).
    assert [name for name in models.__all__ if re.search(r"Response\d{3}|Body$", name)] == []
    assert {path.name for path in Path(api.__file__).parent.iterdir()} >= {"auth", "customers", "orders"}

    staff = make_user("staff")
    with generated.Client(base_url=f"{server}/api") as anonymous:
        tokens = login.sync(client=anonymous, body=models.Login(email=staff.email, password=TEST_PASSWORD))
    assert type(tokens) is models.TokenPair, tokens

    with generated.AuthenticatedClient(base_url=f"{server}/api", token=tokens.access_token) as http:
        new = models.NewCustomer(email="Yank.Deboo@Example.com", first_name="Yank", phone_number="(128) 462-8753")
        created = create_customer.sync(client=http, body=new)
        assert type(created) is models.Customer, created
        assert (created.email, created.phone_number) == ("yank.deboo@example.com", "+11284628753")
        assert created.rewards.points == 0

        fetched = get_customer.sync(customer=created.id, client=http)
        assert type(fetched) is models.Customer
        assert (fetched.id, fetched.first_name, fetched.created_at) == (created.id, "Yank", created.created_at)

        page = list_customers.sync(client=http, email="yank.deboo@example.com")
        assert type(page) is models.CustomerPage, page
        assert [type(item) for item in page.items] == [models.Customer]
        assert page.items[0].id == created.id
        assert page.next_cursor is None

        missing = get_customer.sync(customer="nobody-here", client=http)
        assert type(missing) is models.Problem, missing
        assert (missing.status, missing.title) == (404, "Not Found")
        assert missing.request_id
