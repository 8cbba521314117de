"""Request and response validators for Connexion that name every offending field and reuse compiled schemas.

Connexion's own validators stop at the first error, report it as free text and compile the JSON
schema again on every request; these keep its behaviour otherwise.
"""

import orjson
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.json_schema import Draft4RequestValidator, Draft4ResponseValidator
from connexion.lifecycle import ConnexionRequest
from connexion.utils import is_null, is_nullable
from connexion.validators import (
    VALIDATOR_MAP as CONNEXION_VALIDATORS,
)
from connexion.validators import (
    AbstractRequestBodyValidator,
    JSONRequestBodyValidator,
    JSONResponseBodyValidator,
    ParameterValidator,
)
from flask import Request
from jsonschema import Draft4Validator, ValidationError
from starlette.types import Receive, Scope
from werkzeug.formparser import FormDataParser

from services.errors import FieldError

NUL_MESSAGE = "must not contain NUL characters"
# Validation and error reporting walk a body recursively: a body nested deeper than this is refused
# before they see it, so hostile nesting cannot exhaust Python's recursion limit. No schema nests so deep.
MAX_JSON_DEPTH = 64
# id(schema dict) -> (schema, compiled validator). The schema is kept so its id is never reused.
_compiled: dict[int, tuple[dict, Draft4Validator]] = {}


class InvalidRequest(BadRequestProblem):
    """A 400 that carries one FieldError per problem found."""

    def __init__(self, errors: list[FieldError], detail: str = "The request has invalid fields."):
        super().__init__(detail=detail)
        self.errors = errors


def _compiled_validator(schema: dict, validator_class) -> Draft4Validator:
    cached = _compiled.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = (schema, validator_class(schema, format_checker=Draft4Validator.FORMAT_CHECKER))
        _compiled[id(schema)] = cached
    return cached[1]


def _field_path(error: ValidationError, root: str) -> str:
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        # jsonschema reports a missing key at its parent; name the key itself.
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    elif error.validator == "additionalProperties":
        extras = [part.split("'")[1] for part in error.message.split(",") if "'" in part]
        path.append(extras[0] if extras else "")
    return ".".join(p for p in path if p) or root


def _message(error: ValidationError) -> str:
    rule, limit = error.validator, error.validator_value
    messages = {
        "additionalProperties": "is not a known field",
        "required": "is required",
        "type": f"must be of type {limit}",
        "pattern": f"must match {limit}",
        "maxLength": f"must be at most {limit} characters",
        "minLength": "must not be empty" if limit == 1 else f"must be at least {limit} characters",
        "maximum": f"must be at most {limit}",
        "minimum": f"must be at least {limit}",
        "format": f"must be a valid {limit}",
    }
    if rule == "enum":
        return "must be one of " + ", ".join(repr(v) for v in limit)
    return messages.get(rule, error.message)


def field_errors(validator: Draft4Validator, instance, root: str) -> list[FieldError]:
    """Every schema violation of instance as FieldErrors, one per field, in document order."""
    errors: dict[str, FieldError] = {}
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        if error.validator == "anyOf" and all(leaf.validator == "required" for leaf in error.context):
            # "At least one of these fields": one error on the object, not "is required" on each.
            name = ".".join(map(str, error.absolute_path)) or root
            choices = ", ".join(_field_path(leaf, "").rsplit(".", 1)[-1] for leaf in error.context)
            errors.setdefault(name, FieldError(name, f"needs at least one of {choices}"))
            continue
        for leaf in error.context or [error]:
            name = _field_path(leaf, root)
            errors.setdefault(name, FieldError(name, _message(leaf)))
    return list(errors.values())


def nesting_exceeds(value, limit: int) -> bool:
    """True when arrays and objects nest more than `limit` levels; walked level by level, never recursively."""
    level, depth = _containers([value]), 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = _containers(child for container in level for child in _children(container))
    return False


def _containers(values) -> list:
    return [value for value in values if isinstance(value, (dict, list))]


def _children(container: dict | list):
    return container.values() if isinstance(container, dict) else container


def nul_errors(value, path: str) -> list[FieldError]:
    """A FieldError for each string holding a NUL character: no record may store one (PostgreSQL refuses it)."""
    if isinstance(value, str):
        return [FieldError(path or "body", NUL_MESSAGE)] if "\x00" in value else []
    if isinstance(value, dict):
        return [e for key, item in value.items() for e in nul_errors(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [
            e for index, item in enumerate(value) for e in nul_errors(item, f"{path}.{index}" if path else str(index))
        ]
    return []


class RequestBodyValidator(JSONRequestBodyValidator):
    """Parses JSON with orjson and reports every invalid field of the body."""

    @property
    def _validator(self):
        return _compiled_validator(self._schema, Draft4RequestValidator)

    async def _parse(self, stream, scope):
        body = b"".join([message async for message in stream])
        if not body:
            return None
        try:
            value = orjson.loads(body)  # orjson itself stops at 1024 levels, without recursing in Python
        except orjson.JSONDecodeError as exc:
            error = FieldError("body", f"is not valid JSON ({exc})")
            raise InvalidRequest([error], "The body is not valid JSON.") from None
        if nesting_exceeds(value, MAX_JSON_DEPTH):
            error = FieldError("body", f"must not nest arrays or objects more than {MAX_JSON_DEPTH} levels deep")
            raise InvalidRequest([error], "The body is nested too deeply.")
        return value

    def _validate(self, body):
        if body is None:
            raise InvalidRequest([FieldError("body", "must not be empty")], "The request body is empty.")
        errors = field_errors(self._validator, body, "body") + nul_errors(body, "")
        if errors:
            raise InvalidRequest(errors)
        return body


class RequestParameterValidator(ParameterValidator):
    """Validates path, query and header parameters, naming each invalid or unknown one."""

    def validate_request(self, request: ConnexionRequest) -> None:
        errors: list[FieldError] = []
        if self.strict_validation:
            extra = self.validate_query_parameter_list(request, security_params=self.security_query_params)
            errors.extend(FieldError(name, "is not a known query parameter") for name in sorted(extra))
        # Each source is read only when the operation has parameters there (building the headers costs each request).
        sources = {
            "query": lambda: request.query_params,
            "path": lambda: request.path_params,
            "header": lambda: request.headers,
        }
        for location, source in sources.items():
            params = self.parameters.get(location)
            if not params:
                continue
            values = source()
            for param in params:
                name = param["name"]
                key = name.replace("-", "_") if location == "path" else name
                errors.extend(self._check(param, values.get(key), name))
        if errors:
            raise InvalidRequest(errors)

    @staticmethod
    def _check(param: dict, value, name: str) -> list[FieldError]:
        if value is None:
            return [FieldError(name, "is required")] if param.get("required") else []
        if is_nullable(param) and is_null(value):
            return []
        if isinstance(value, str) and "\x00" in value:
            return [FieldError(name, NUL_MESSAGE)]
        schema = param.get("schema", param)
        return field_errors(_compiled_validator(schema, Draft4Validator), value, name)


class ResponseBodyValidator(JSONResponseBodyValidator):
    """Response validation with a compiled schema (used in development and tests)."""

    @property
    def validator(self):
        return _compiled_validator(self._schema, Draft4ResponseValidator)

    def _parse(self, stream):
        body = b"".join(stream)
        return orjson.loads(body) if body else None


class UploadPassThrough(AbstractRequestBodyValidator):
    """Multipart uploads reach the handler unread: the caller is authorised first, then the file streams to disk.

    Connexion's multipart validator would read the whole upload into memory before the role is checked.
    The handler checks the form itself.
    """

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        """Leave the body to the handler."""
        return receive, scope


class _ReasonKeepingFormParser(FormDataParser):
    """Werkzeug's form parser; a body it cannot read still parses as an empty form, but the reason is kept."""

    error: str | None = None

    def parse(self, stream, mimetype, content_length, options=None):
        self.silent = False  # werkzeug's silent mode would drop the reason
        try:
            return super().parse(stream, mimetype, content_length, options)
        except ValueError as exc:
            # Werkzeug says "cannot parse beyond State.X" when the body ends before its closing boundary.
            self.error = "it ends before its closing boundary" if "parse beyond" in str(exc) else str(exc)
            return stream, self.cls(), self.cls()


class UploadRequest(Request):
    """Flask's request, telling why a form body could not be read (`form_error`) instead of showing it as empty.

    Connexion reads the form before the handler runs; a malformed multipart body then looks like a form
    without the file, and the handler could only say "file is required".
    """

    form_data_parser_class = _ReasonKeepingFormParser
    _form_parser: _ReasonKeepingFormParser | None = None

    def make_form_data_parser(self) -> FormDataParser:
        """Werkzeug's parser, kept to ask it afterwards why it failed."""
        self._form_parser = super().make_form_data_parser()
        return self._form_parser

    @property
    def form_error(self) -> str | None:
        """Why the form body could not be read, or None."""
        return self._form_parser.error if self._form_parser else None


VALIDATOR_MAP = {
    "parameter": RequestParameterValidator,
    "body": MediaTypeDict(
        {**CONNEXION_VALIDATORS["body"], "*/*json": RequestBodyValidator, "multipart/form-data": UploadPassThrough}
    ),
    "response": MediaTypeDict({**CONNEXION_VALIDATORS["response"], "*/*json": ResponseBodyValidator}),
}
