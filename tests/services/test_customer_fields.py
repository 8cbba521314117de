"""One table of customer fields (services.customer_rules.FIELDS) drives the API input, the CSV import, the export
and the representation, and the spec lists the same fields."""

from pathlib import Path

import pytest
import yaml
from marshmallow import fields

from schemas.customer import REPRESENTED_FIELDS, CustomerInput, NewCustomerInput, load_customer
from services import customer_rules as rules
from services.customer_export import export_rows
from services.customers import CustomerFilters
from services.errors import InvalidInput
from services.imports import RowRules, header_columns

SPEC_PATH = Path(__file__).resolve().parents[2] / "swagger.yml"
NAMES = tuple(field.name for field in rules.FIELDS)
# One text per field as a client or a CSV cell may write it, and its stored form.
SAMPLES = {
    "id": ("cust-1", "cust-1"),
    "email": ("Ana.Lima@Example.COM", "ana.lima@example.com"),
    "first_name": ("  Ana ", "Ana"),
    "last_name": ("Lima", "Lima"),
    "phone_number": ("(323) 555-1234", "+13235551234"),
    "client_member_id": (" M-1 ", "M-1"),
    "account_id": ("12", 12),
    "document": ("529.982.247-25", "52998224725"),
    "country": ("br", "BR"),
    "language": ("PT", "pt"),
}


def test_the_derived_lists_keep_their_meaning():
    """The lists the services use come from the table and say what DESIGN.md sections 4 and 5 say."""
    assert rules.MUTABLE_FIELDS == NAMES
    assert ("id", *NAMES) == rules.PUBLIC_FIELDS
    assert rules.CONTACT_FIELDS == ("email", "phone_number", "client_member_id", "document")
    assert rules.SELF_SERVICE_FIELDS == ("first_name", "last_name", "phone_number", "country", "language")
    assert len(set(rules.PUBLIC_FIELDS)) == len(rules.PUBLIC_FIELDS)


def test_every_field_has_a_sample():
    """Keeps the comparisons below complete: a new field needs its sample here."""
    assert set(SAMPLES) == set(rules.PUBLIC_FIELDS)


def test_the_input_schemas_are_the_table():
    """CustomerInput declares the table's fields, NewCustomerInput the id too; numbers stay strict integers."""
    assert tuple(CustomerInput._declared_fields) == NAMES
    assert set(NewCustomerInput._declared_fields) == set(rules.PUBLIC_FIELDS)
    for field in rules.FIELDS:
        declared = CustomerInput._declared_fields[field.name]
        assert isinstance(declared, fields.Integer) == (field.integer_range is not None), field.name
    account = CustomerInput._declared_fields["account_id"]
    assert account.strict
    assert REPRESENTED_FIELDS == rules.PUBLIC_FIELDS


def _api_value(name: str, text: str):
    return int(text) if name == "account_id" else text


def test_the_api_and_the_import_store_the_same_values():
    """The same text gives the same stored form through the API's schema and through an import row."""
    schema = NewCustomerInput(phone_region="US", supported_languages=frozenset({"pt", "en"}))
    loaded = load_customer(schema, {name: _api_value(name, text) for name, (text, _) in SAMPLES.items()})
    values, errors = RowRules("US", frozenset({"pt", "en"})).apply(
        2, {name: text for name, (text, _) in SAMPLES.items()}
    )
    assert errors == []
    assert loaded == values == {name: stored for name, (_, stored) in SAMPLES.items()}


@pytest.mark.parametrize(
    ("name", "text"),
    [("account_id", "0"), ("account_id", str(2**31)), ("language", "de"), ("phone_number", "12"), ("country", "XX")],
)
def test_the_api_and_the_import_refuse_the_same_values(name, text):
    """Out of range, unsupported or impossible: both refuse, naming the same field."""
    schema = CustomerInput(phone_region="US", supported_languages=frozenset({"pt", "en"}))
    with pytest.raises(InvalidInput) as refused:
        load_customer(schema, {"email": "a@example.com", name: _api_value(name, text)})
    assert [e.field for e in refused.value.errors] == [name]
    _, errors = RowRules("US", frozenset({"pt", "en"})).apply(2, {"email": "a@example.com", name: text})
    assert [e.field for e in errors] == [name]


def test_the_import_knows_the_table_s_columns_in_any_case():
    """Every column of the table is known to the import's header, and nothing else."""
    assert header_columns([name.upper() for name in rules.PUBLIC_FIELDS]) == list(rules.PUBLIC_FIELDS)
    with pytest.raises(InvalidInput):
        header_columns(["id", "nickname"])


def test_the_export_header_is_the_table(app_context):
    """The export writes the id and the table's fields, in the table's order."""
    header = next(export_rows(CustomerFilters(None, None, None, None, None, None), "US"))
    assert header == ",".join(rules.PUBLIC_FIELDS) + "\n"


# --- the spec ---


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _parts(spec: dict, schema: dict) -> list[dict]:
    """A schema and every schema it is made of through allOf, resolved."""
    schema = _resolve(spec, schema)
    parts = [schema]
    for part in schema.get("allOf", []):
        parts.extend(_parts(spec, part))
    return parts


def _properties(spec: dict, schema: dict) -> dict:
    found = {}
    for part in _parts(spec, schema):
        found.update({name: _resolve(spec, value) for name, value in part.get("properties", {}).items()})
    return found


def _writable(spec: dict, schema: dict) -> set[str]:
    return {name for name, value in _properties(spec, schema).items() if not value.get("readOnly")}


@pytest.fixture(scope="module")
def spec():
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def _operation(spec: dict, name: str) -> dict:
    """The operation whose operationId ends in `name` (with or without its module)."""
    found = [
        operation
        for item in spec["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and str(operation.get("operationId", "")).rsplit(".", 1)[-1] == name
    ]
    assert len(found) == 1, name
    return found[0]


def _body_schema(spec: dict, operation_name: str) -> dict:
    return _operation(spec, operation_name)["requestBody"]["content"]["application/json"]["schema"]


def test_the_spec_s_customer_inputs_list_the_table_s_fields(spec):
    """NewCustomer takes the table's fields and the id; the replace and change bodies take the table's fields."""
    schemas = spec["components"]["schemas"]
    assert _writable(spec, schemas["NewCustomer"]) == set(rules.PUBLIC_FIELDS)
    assert _writable(spec, _body_schema(spec, "create_customer")) == set(rules.PUBLIC_FIELDS)
    for operation_name in ("replace_customer", "update_customer"):
        assert _writable(spec, _body_schema(spec, operation_name)) == set(NAMES), operation_name


def test_the_spec_s_customer_input_types_follow_the_table(spec):
    """Numbers are integers in the table's range; the rest are (nullable) strings."""
    properties = _properties(spec, spec["components"]["schemas"]["NewCustomer"])
    for field in rules.FIELDS:
        described = properties[field.name]
        assert described.get("nullable") is True, field.name
        if field.integer_range is None:
            assert described["type"] == "string", field.name
        else:
            assert described["type"] == "integer", field.name
            assert (described["minimum"], described["maximum"]) == field.integer_range


def test_the_spec_s_new_customer_needs_one_of_the_contact_fields(spec):
    """The spec's "at least one contact" alternatives are the table's contact fields."""
    parts = _parts(spec, spec["components"]["schemas"]["NewCustomer"])
    alternatives = [_resolve(spec, option) for part in parts for option in part.get("anyOf", [])]
    assert sorted(name for option in alternatives for name in option.get("required", [])) == sorted(
        rules.CONTACT_FIELDS
    )


def test_the_spec_s_customer_representation_lists_the_table_s_fields(spec):
    """The Customer representation (and the answer of GET /customers/{customer}) has every field, required."""
    customer = spec["components"]["schemas"]["Customer"]
    answered = _resolve(spec, _operation(spec, "get_customer")["responses"]["200"])
    answer = answered["content"]["application/json"]["schema"]
    for schema in (customer, answer):
        assert set(rules.PUBLIC_FIELDS) <= set(_properties(spec, schema))
        required = {name for part in _parts(spec, schema) for name in part.get("required", [])}
        assert set(rules.PUBLIC_FIELDS) <= required
