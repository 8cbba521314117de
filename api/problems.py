"""Every error as application/problem+json (RFC 9457) with the request id and, for bad input, the fields."""

import logging
import re
import sqlite3
from http import HTTPStatus

import orjson
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from api.validation import InvalidRequest
from services.context import current_request_id
from services.error_reports import report_error
from services.errors import (
    BusinessRuleViolation,
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServiceError,
    TooLarge,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}
SERVICE_STATUS = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    RateLimited: 429,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    TooLarge: 413,
    BusinessRuleViolation: 422,
    Unavailable: 503,
}
# The database refused or lost the connection, did not answer in time (connect or statement timeout), has no free
# connection in the pool, or is locked (SQLite): the request may succeed a few seconds later.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)
DATABASE_ERRORS = (DBAPIError, DisconnectionError, PoolTimeout)  # what database_unavailable sorts
# SQLite reports a missing table or a bad statement as an OperationalError too: only these mean "not now".
SQLITE_UNAVAILABLE = ("database is locked", "database table is locked", "unable to open database file", "disk i/o")
RETRY_AFTER = 5  # seconds a client is asked to wait when a dependency is down (every 503)
DATABASE_UNAVAILABLE_DETAIL = "The database is not available right now; try again in a few seconds."


def database_unavailable(error: BaseException) -> bool:
    """Whether the error says the database cannot be reached now, rather than that the request is wrong."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, OperationalError) and isinstance(error.orig, sqlite3.Error):
        return str(error.orig).lower().startswith(SQLITE_UNAVAILABLE)
    return isinstance(error, DATABASE_UNAVAILABLE)


def database_cause(error: BaseException) -> str:
    """What the driver said, on one line, without the SQL statement or its parameters."""
    return " ".join(str(getattr(error, "orig", None) or error).split())[:500]


def problem(status: int, detail: str, *, errors=None, title: str | None = None, headers=None) -> ConnexionResponse:
    """A problem+json response; `errors` is a list of FieldError."""
    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "request_id": current_request_id(),
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return ConnexionResponse(
        status_code=status,
        mimetype=PROBLEM_JSON,
        content_type=PROBLEM_JSON,
        body=orjson.dumps(body),
        headers=dict(headers or {}),
    )


async def service_error(_request: ConnexionRequest, exc: ServiceError) -> ConnexionResponse:
    """A refusal from the domain layer."""
    status = next(code for cls, code in SERVICE_STATUS.items() if isinstance(exc, cls))
    if isinstance(exc, InvalidInput):
        return problem(status, exc.detail, errors=exc.errors)
    if isinstance(exc, Conflict):
        return problem(status, exc.detail, errors=[FieldError(exc.field, exc.message)])
    if isinstance(exc, Forbidden) and exc.field:
        return problem(status, exc.detail, errors=[FieldError(exc.field, "may only be changed by staff")])
    if isinstance(exc, Unauthenticated):
        return problem(status, exc.detail, headers=BEARER_CHALLENGE)
    if isinstance(exc, RateLimited):
        return problem(status, exc.detail, headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, Unavailable):
        return problem(status, exc.detail, headers={"Retry-After": str(RETRY_AFTER)})
    return problem(status, exc.detail)


async def connexion_problem(_request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    """A refusal from Connexion's routing, security or validation layers."""
    if isinstance(exc, InvalidRequest):
        return problem(exc.status, exc.detail, errors=exc.errors)
    status = exc.status or 500
    if status == 400:
        # Connexion's own 400s without a field are about the body (e.g. a missing one).
        return problem(400, exc.detail, errors=[FieldError("body", exc.detail)])
    if status == 401:
        return problem(401, exc.detail, headers=BEARER_CHALLENGE)
    if status >= 500:
        log.error("request failed: %s", exc.detail)
        return problem(status, "The server could not handle this request.")
    return problem(status, exc.detail or HTTPStatus(status).description, title=exc.title, headers=exc.headers)


class AllowedMethods:
    """The methods the spec lists for a request path, for the Allow header of a 405.

    Routing answers 405 from the first operation whose path matches, so its Allow names that one
    operation's method only; the spec knows every method of the path.
    """

    def __init__(self, specification: dict):
        base = specification.get("servers", [{}])[0].get("url", "").rstrip("/")
        self.routes = [(_path_pattern(base + path), _methods(item)) for path, item in specification["paths"].items()]

    def __call__(self, path: str) -> str:
        matches = [(pattern.groups, methods) for pattern, methods in self.routes if pattern.fullmatch(path)]
        # As OpenAPI matches paths: a concrete path (/customers/export) before a templated one (/customers/{customer}).
        fewest = min((groups for groups, _ in matches), default=0)
        methods = set().union(*(methods for groups, methods in matches if groups == fewest))
        return ", ".join(sorted(methods))


def _path_pattern(template: str) -> re.Pattern:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("([^/]+)" if part.startswith("{") else re.escape(part) for part in parts))


def _methods(item: dict) -> set[str]:
    methods = {
        method.upper() for method, operation in item.items() if isinstance(operation, dict) and method != "parameters"
    }
    return methods | {"HEAD"} if "GET" in methods else methods


def http_error_handler(allowed_methods: AllowedMethods):
    """The handler of HTTP errors raised outside the operations (unknown path, wrong method)."""

    async def http_error(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
        detail = {
            404: "There is nothing at this address.",
            405: "This address does not take that method.",
        }.get(exc.status_code, HTTPStatus(exc.status_code).description)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request.url.path) or headers.get("Allow", "")
        return problem(exc.status_code, detail, headers=headers)

    return http_error


async def unexpected_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Anything else: logged with its traceback, answered without internals."""
    log.error("unhandled error", exc_info=exc)
    report_error(exc)  # reported even where error log lines are not; the same error is sent once
    return problem(500, "The server could not handle this request.")


async def database_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """The database is down or too slow: 503 with Retry-After (any other database error is unexpected)."""
    if not database_unavailable(exc):
        return await unexpected_error(request, exc)
    log.warning("the database is unavailable: %s", database_cause(exc))
    return problem(503, DATABASE_UNAVAILABLE_DETAIL, headers={"Retry-After": str(RETRY_AFTER)})


def register_problem_handlers(app, specification: dict) -> None:
    """Route every kind of failure to its problem+json handler."""
    app.add_error_handler(ServiceError, service_error)
    app.add_error_handler(ProblemException, connexion_problem)
    app.add_error_handler(HTTPException, http_error_handler(AllowedMethods(specification)))
    for database_failure in DATABASE_ERRORS:
        app.add_error_handler(database_failure, database_error)
    app.add_error_handler(Exception, unexpected_error)
