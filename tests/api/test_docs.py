"""The generated documentation: Swagger UI and an OpenAPI 3.0 spec that documents every operation."""

import pytest

METHODS = ("get", "put", "post", "patch", "delete")


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
    from pathlib import Path

    import yaml
    from openapi_spec_validator import validate

    text = (Path(__file__).resolve().parents[2] / "swagger.yml").read_text()
    assert "{{" not in text and "{%" not in text
    validate(yaml.safe_load(text))


def test_the_served_spec_states_this_service_s_page_sizes(app, settings):
    """Settings the spec states (page sizes) are filled in when it is served."""
    from app import create_app

    service = create_app({**settings, "PAGE_SIZE_DEFAULT": 7, "PAGE_SIZE_MAX": 30, "AUTO_MIGRATE": False})
    served = service.test_client().get("/api/openapi.json").json()
    limit = next(p for p in served["paths"]["/customers"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["maximum"], limit["schema"]["default"]) == (30, 7)


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
