"""Authentication and authorization of every operation.

Connexion calls bearer_info / api_key_info on the event loop, outside the Flask app: they only check
the credential itself. authorize_request then runs in the request, where it may use the database:
it confirms the session or key is still good and that the caller's role is one the operation lists
under `x-roles` in swagger.yml (Connexion itself does not check roles of bearer tokens).
"""

import functools

import connexion
from connexion.exceptions import OAuthProblem
from connexion.lifecycle import ConnexionRequest
from connexion.security import ApiKeySecurityHandler, BearerSecurityHandler
from connexion.utils import inspect_function_arguments
from flask import request

from services.api_keys import KEY_PREFIX, principal_from_api_key
from services.context import Principal, current_principal, principal_var, read_only_var
from services.errors import Forbidden, Unauthenticated
from services.sessions import principal_from_access_claims
from services.tokens import InvalidToken, TokenCodec

API_KEY_MAX = 128


def bearer_info(token: str, request: ConnexionRequest) -> dict:
    """The claims of a well-signed, unexpired access token."""
    codec: TokenCodec = request.scope["state"]["token_codec"]
    try:
        return codec.decode(token, "access")
    except InvalidToken:
        raise OAuthProblem(detail="The access token is not valid.") from None


def api_key_info(api_key: str, required_scopes=None) -> dict:
    """A key of the right form (whether it exists is checked in the request)."""
    if not api_key.startswith(KEY_PREFIX) or len(api_key) > API_KEY_MAX:
        raise OAuthProblem(detail="The API key is not valid.")
    return {"api_key": api_key}


@functools.cache
def _accepts_kwarg(func, keyword: str) -> bool:
    arguments, has_kwargs = inspect_function_arguments(func)
    return has_kwargs or keyword in arguments


class _BearerHandler(BearerSecurityHandler):
    """Connexion's bearer check; what bearer_info accepts is inspected once, not on every request."""

    _accepts_kwarg = staticmethod(_accepts_kwarg)


class _ApiKeyHandler(ApiKeySecurityHandler):
    """Connexion's API key check; what api_key_info accepts is inspected once, not on every request."""

    _accepts_kwarg = staticmethod(_accepts_kwarg)


# FlaskApp(security_map=...): the handlers of the two schemes swagger.yml declares.
SECURITY_MAP = {"bearer": _BearerHandler, "apiKey": _ApiKeyHandler}


def resolved_operation_id(operation: dict) -> str:
    """The operation's id as Connexion reports it: `module.function` (x-openapi-router-controller + operationId)."""
    controller = operation.get("x-openapi-router-controller")
    return f"{controller}.{operation['operationId']}" if controller else operation["operationId"]


def operation_roles(specification: dict) -> dict[str, frozenset[str] | None]:
    """Resolved operation id -> roles allowed, or None for a public operation; refuses a secured one without x-roles."""
    default_security = specification.get("security", [])
    roles: dict[str, frozenset[str] | None] = {}
    for path, item in specification["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            security = operation.get("security", default_security)
            if not security:
                roles[resolved_operation_id(operation)] = None
                continue
            if "x-roles" not in operation:
                raise ValueError(f"{method.upper()} {path} is secured but lists no x-roles")
            roles[resolved_operation_id(operation)] = frozenset(operation["x-roles"])
    return roles


def authorize_request(roles_by_operation: dict[str, frozenset[str] | None]) -> None:
    """Confirm the caller may run the operation being requested (a Flask before_request hook)."""
    read_only_var.set(request.method in ("GET", "HEAD"))
    try:
        operation_id = connexion.context.operation.operation_id
    except (LookupError, RuntimeError):
        return  # no operation matched: routing answers 404/405
    if operation_id not in roles_by_operation:
        # An operation the role table does not know is refused, never let through.
        raise Forbidden("This operation is not open to any role.")
    roles = roles_by_operation[operation_id]
    if roles is None:
        return
    info = connexion.context.context.get("token_info") or {}
    if "api_key" in info:
        principal = principal_from_api_key(info["api_key"])
    elif "sid" in info:
        principal = principal_from_access_claims(info)
    else:
        raise Unauthenticated("This operation needs a bearer token or an API key.")
    if principal.role not in roles:
        raise Forbidden(f"The {principal.role} role may not do this.")
    principal_var.set(principal)


def caller() -> Principal:
    """The authenticated caller of this (secured) operation."""
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("This operation needs a bearer token or an API key.")
    return principal
