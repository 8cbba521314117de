"""Why a service refused: each error maps to one HTTP status in api.problems."""

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class ServiceError(Exception):
    """Base of the refusals a caller can act on."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidInput(ServiceError):
    """The input breaks a rule; `errors` names each offending field."""

    def __init__(self, errors: list[FieldError], detail: str = "The request has invalid fields."):
        super().__init__(detail)
        self.errors = errors

    @classmethod
    def single(cls, field: str, message: str) -> "InvalidInput":
        return cls([FieldError(field, message)], detail=f"{field}: {message}")


class NotFound(ServiceError):
    """No such record, or none the caller may see."""


class Conflict(ServiceError):
    """The write collides with existing data on `field`; `message` says how, next to the field."""

    def __init__(self, field: str, detail: str, message: str = "is already taken"):
        super().__init__(detail)
        self.field = field
        self.message = message


class PreconditionFailed(ServiceError):
    """The caller's If-Match no longer describes the stored record."""


class TooLarge(ServiceError):
    """The upload is larger than the configured limit."""


class Unavailable(ServiceError):
    """The service cannot serve right now (a dependency is down or not ready)."""


class Unauthenticated(ServiceError):
    """No valid credentials: missing, wrong, expired or revoked."""


class Forbidden(ServiceError):
    """Authenticated, but this caller may not do this (to `field`, when one is named)."""

    def __init__(self, detail: str, field: str | None = None):
        super().__init__(detail)
        self.field = field


class RateLimited(ServiceError):
    """Too many attempts; `retry_after` seconds until the next is allowed."""

    def __init__(self, retry_after: int, detail: str):
        super().__init__(detail)
        self.retry_after = retry_after


class BusinessRuleViolation(ServiceError):
    """Well-formed, but refused by a business rule (insufficient balance, already reversed)."""
