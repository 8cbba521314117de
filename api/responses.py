"""How operations answer: compact JSON through orjson, and empty 204s."""

from collections.abc import Mapping
from decimal import Decimal

import orjson
from connexion.jsonifier import Jsonifier
from flask import Response
from werkzeug.datastructures import Headers

from schemas.common import money


def _default(value):
    if isinstance(value, Decimal):
        return money(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class OrjsonJsonifier(Jsonifier):
    """Connexion's jsonifier, writing compact JSON with orjson (money as two-decimal strings)."""

    def __init__(self):
        super().__init__()

    def dumps(self, data, **kwargs) -> bytes:
        return orjson.dumps(data, default=_default)

    def loads(self, data):
        return orjson.loads(data)


def json_response(body, status: int = 200, headers: Mapping | Headers | None = None):
    """A handler result with an explicit JSON content type.

    Operations also declare problem+json answers, so Connexion needs to be told which type this is. `headers` may
    be werkzeug Headers, to send one header more than once (Set-Cookie).
    """
    merged = Headers({"Content-Type": "application/json"})
    merged.update(headers or {})  # a name given replaces the default; a Headers keeps each of its values
    return body, status, merged


def no_content() -> Response:
    """An empty 204 with no content type (Connexion would label it with the operation's problem type)."""
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response
