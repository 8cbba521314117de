"""The generated documentation: Swagger UI and an OpenAPI 3.0 spec that documents every operation."""

import re
from pathlib import Path

import pytest

METHODS = ("get", "put", "post", "patch", "delete")
SPEC_FILE = Path(__file__).resolve().parents[2] / "swagger.yml"


@pytest.fixture
def spec(client):
    """The spec as served."""
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def test_swagger_ui_is_served(client):
    """The interactive documentation is at /api/ui/."""
    response = client.get("/api/ui/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "swagger" in response.text.lower()


def test_spec_is_openapi_303_under_api(spec):
    """The spec is OpenAPI 3.0.3 and its server is /api."""
    assert spec["openapi"] == "3.0.3"
    assert spec["servers"][0]["url"] == "/api"


def test_every_operation_has_a_summary_and_an_answer(spec):
    """Each operation says what it does and documents at least one success."""
    for name, operation in _operations(spec):
        assert operation.get("summary"), name
        assert any(code.startswith("2") for code in operation["responses"]), name


def test_every_body_refuses_unknown_properties_and_has_an_example(spec):
    """JSON request bodies are closed objects with an example; file uploads have an example too."""
    schemas = spec["components"]["schemas"]
    for name, operation in _operations(spec):
        if "requestBody" not in operation:
            continue
        content = operation["requestBody"]["content"]
        if "application/json" not in content:
            assert "example" in content.get("text/csv", {}), name
            continue
        media = content["application/json"]
        schema = media["schema"]
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        assert schema.get("additionalProperties") is False, name
        assert "example" in media, name


def test_operations_taking_input_document_their_errors(spec):
    """Operations with parameters or a body document a 400; those on one customer a 404."""
    for name, operation in _operations(spec):
        codes = set(operation["responses"])
        if "requestBody" in operation or operation.get("parameters"):
            assert "400" in codes, name
        if "{customer}" in name:
            assert "404" in codes, name


def test_the_spec_file_is_plain_openapi_any_tool_opens():
    """swagger.yml is no template: a YAML parser reads it and an OpenAPI 3.0 validator accepts it as it is."""
    import yaml
    from openapi_spec_validator import validate

    text = SPEC_FILE.read_text(encoding="utf-8")
    assert "{{" not in text and "{%" not in text
    validate(yaml.safe_load(text))


def test_the_served_spec_states_this_service_s_page_sizes(app, settings):
    """Settings the spec states (page sizes) are filled in when it is served."""
    from app import create_app

    service = create_app({**settings, "PAGE_SIZE_DEFAULT": 7, "PAGE_SIZE_MAX": 30, "AUTO_MIGRATE": False})
    served = service.test_client().get("/api/openapi.json").json()
    assert {"$ref": "#/components/parameters/Limit"} in served["paths"]["/customers"]["get"]["parameters"]
    limit = served["components"]["parameters"]["Limit"]
    assert (limit["schema"]["maximum"], limit["schema"]["default"]) == (30, 7)


def _spec_file() -> dict:
    import yaml

    return yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_the_served_spec_keeps_its_components_and_refs(spec):
    """Served as written: named components and `$ref`s to them, nothing inlined (client generators name models)."""
    written = _spec_file()
    assert spec["components"].keys() == written["components"].keys()
    for kind, components in written["components"].items():
        assert spec["components"][kind].keys() == components.keys(), kind
    assert spec["paths"].keys() == written["paths"].keys()
    refs = _refs(spec)
    assert len(refs) > 300
    assert sorted(refs) == sorted(_refs(written))
    customer = spec["paths"]["/customers/{customer}"]
    assert customer["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Customer"
    }


def test_every_ref_names_a_component_and_every_schema_is_used(spec):
    """No dangling `$ref`; no schema left unused."""
    refs = set(_refs(spec))
    for ref in refs:
        _, _, kind, name = ref.split("/")
        assert name in spec["components"][kind], ref
    unused = {f"#/components/schemas/{name}" for name in spec["components"]["schemas"]} - refs
    assert unused == set()


def test_operation_ids_are_names_a_client_calls(spec, app):
    """Each operationId is a plain, unique name; x-openapi-router-controller names the module of its handler."""
    import importlib

    ids = [operation["operationId"] for _, operation in _operations(spec)]
    assert len(ids) == len(set(ids))
    for name, operation in _operations(spec):
        operation_id, module = operation["operationId"], operation["x-openapi-router-controller"]
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", operation_id), name
        assert module.startswith("api."), name
        assert callable(getattr(importlib.import_module(module), operation_id)), name


def test_pages_and_customer_filters_are_components(spec):
    """Every page of items is a named envelope; the collection and its export share the customer filters."""
    schemas = spec["components"]["schemas"]
    pages = {"CustomerPage", "OrderPage", "LedgerPage", "SalePage", "UserPage", "ActivityPage"}
    for page in pages:
        assert schemas[page]["required"] == ["items", "next_cursor"], page
        assert "$ref" in schemas[page]["properties"]["items"]["items"], page
    for name, operation in _operations(spec):
        for code, answer in operation["responses"].items():
            if "application/json" in answer.get("content", {}):
                assert "$ref" in answer["content"]["application/json"]["schema"], f"{name} {code} is inline"

    def filters(path):
        return [p["$ref"] for p in spec["paths"][path]["get"]["parameters"] if "Filter" in str(p) or "Search" in str(p)]

    shared = [f"#/components/parameters/{name}Filter" for name in ("AccountId", "PhoneNumber", "ClientMemberId")]
    shared += ["#/components/parameters/EmailFilter", "#/components/parameters/DocumentFilter"]
    shared += ["#/components/parameters/CustomerSearch"]
    assert filters("/customers") == filters("/customers/export") == shared


def test_the_spec_file_has_no_yaml_anchors_and_new_customer_is_customer_fields_and_id():
    """Only `$ref`s share definitions (YAML anchors and merge keys are lost in JSON); NewCustomer keeps in step."""
    text = SPEC_FILE.read_text(encoding="utf-8")
    assert not re.search(r"(^|\s)[&*][A-Za-z_]\w*|<<:", text, re.MULTILINE)
    schemas = _spec_file()["components"]["schemas"]
    fields, new = schemas["CustomerFields"], schemas["NewCustomer"]
    assert {**fields["properties"], "id": new["properties"]["id"]} == new["properties"]
    assert fields["additionalProperties"] is new["additionalProperties"] is False


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/auth/signup", {"email": "a@example.com", "password": "short"}, "password"),
        ("/api/customers", {"first_name": "Ana"}, "body"),
        ("/api/customers/x/orders", {"total": "0.00"}, "total"),
    ],
)
def test_the_spec_states_rules_the_service_keeps(client, path, body, field):
    """Password length, money above 0 and the one-contact rule are refused by the spec itself (400)."""
    response = client.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field
