"""Helpers shared by every resource: loading input through rules of services/, and writing representations."""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields

from services.errors import FieldError, InvalidInput


class Ruled(fields.String):
    """A string field loaded through a rule of services/: the rule's answer is the loaded value, its ValueError the
    field's message. Subclasses whose rule depends on the schema override `rule_of_field`."""

    def __init__(self, rule: Callable[[str], object] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rule = rule

    def rule_of_field(self) -> Callable[[str], object]:
        return self.rule

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.rule_of_field()(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def load_input(schema: Schema, body: dict) -> dict:
    """Validate and normalise a body, turning every field's complaint into one InvalidInput (a 400 naming them)."""
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


def timestamp(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a trailing Z (None stays None)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # the models always hand back UTC; convert anything else
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def money(value: Decimal | None) -> str | None:
    """Money as the API writes it: a decimal string with two places ("12.50"); None stays None."""
    return None if value is None else f"{value:.2f}"
