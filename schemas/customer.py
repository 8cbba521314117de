"""Customer input (validate + normalise) and representation."""

from collections.abc import Mapping
from functools import lru_cache

from marshmallow import RAISE, Schema, fields, validate

from schemas.common import Ruled, load_input, timestamp
from schemas.rewards import rewards_representation
from services import customer_rules as rules
from services.rewards import rewards_summary, tiers

REPRESENTED_FIELDS = rules.PUBLIC_FIELDS


class Normalised(Ruled):
    """A string field whose stored form comes from its rule in services.customer_rules."""

    def __init__(self, field: rules.CustomerField, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.field = field

    def rule_of_field(self):
        return self.field.normaliser(self.root.field_context)


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


# Customer input loads as every input does (schemas.common.load_input): one InvalidInput naming each field.
load_customer = load_input


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
