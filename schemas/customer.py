"""Customer input (validate + normalise) and representation."""

from collections.abc import Mapping
from functools import lru_cache

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from schemas.common import timestamp
from schemas.rewards import rewards_representation
from services import customer_rules as rules
from services.errors import FieldError, InvalidInput
from services.rewards import rewards_summary, tiers

REPRESENTED_FIELDS = rules.PUBLIC_FIELDS


class Normalised(fields.String):
    """A string field whose stored form comes from its rule in services.customer_rules."""

    def __init__(self, field: rules.CustomerField, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.field = field

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.field.normaliser(self.root.field_context)(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def _declared(field: rules.CustomerField) -> fields.Field:
    """The marshmallow field of a table entry: numbers are strict JSON integers, the rest normalised text."""
    if field.integer_range is None:
        return Normalised(field)
    low, high = field.integer_range
    return fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=low, max=high))


class CustomerInput(Schema.from_dict({field.name: _declared(field) for field in rules.FIELDS}, name="CustomerFields")):
    """The writable fields of a customer, one per entry of the table; absent keys stay absent, null clears."""

    class Meta:
        unknown = RAISE

    def __init__(self, *, phone_region: str, supported_languages: frozenset[str], **kwargs):
        super().__init__(**kwargs)
        self.field_context = rules.FieldContext(phone_region, supported_languages)


class NewCustomerInput(CustomerInput):
    """A new customer may bring its own public id (exports carry one)."""

    id = Normalised(rules.ID_FIELD)


def load_customer(schema: CustomerInput, body: dict) -> dict:
    """Validate and normalise a body, turning every field's complaint into one InvalidInput."""
    try:
        return schema.load(body)
    except ValidationError as exc:
        raise InvalidInput(_field_errors(exc.messages)) from None


def _field_errors(messages: dict | list, prefix: str = "") -> list[FieldError]:
    if isinstance(messages, list):
        return [FieldError(prefix or "body", str(m)) for m in messages]
    errors = []
    for field, inner in messages.items():
        name = "body" if field == "_schema" else f"{prefix}{field}"
        if isinstance(inner, dict):
            errors.extend(_field_errors(inner, prefix=f"{name}."))
        else:
            errors.extend(FieldError(name, str(m)) for m in inner)
    return errors


def customer_representation(record: Mapping) -> dict:
    """The public JSON of a customer record (a row mapping or a dict of column values).

    Written by hand rather than as a marshmallow dump: it runs on every read, and this is
    several times cheaper for the same output.
    """
    body = {name: record[name] for name in REPRESENTED_FIELDS}
    body["created_at"] = timestamp(record["created_at"])
    body["updated_at"] = timestamp(record["updated_at"])
    body["rewards"] = _rewards_json(tiers(), record["points"], record["cashback_balance"])
    return body


@lru_cache(maxsize=4096)
def _rewards_json(levels, points: int, cashback_balance) -> dict:
    # Shared between answers (pages repeat the same few pairs); it is only ever serialised, never changed.
    return rewards_representation(rewards_summary(points, cashback_balance))
