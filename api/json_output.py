"""Compact JSON output through orjson for every operation's response."""

from decimal import Decimal

import orjson
from connexion.jsonifier import Jsonifier


def _default(value):
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class OrjsonJsonifier(Jsonifier):
    """Connexion's jsonifier, writing compact JSON with orjson (money as two-decimal strings)."""

    def __init__(self):
        super().__init__()

    def dumps(self, data, **kwargs) -> bytes:
        return orjson.dumps(data, default=_default)

    def loads(self, data):
        return orjson.loads(data)


def json_response(body, status: int = 200, headers: dict | None = None):
    """A handler result with an explicit JSON content type.

    Operations also declare problem+json answers, so Connexion needs to be told which type this is.
    """
    return body, status, {"Content-Type": "application/json", **(headers or {})}
