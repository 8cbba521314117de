"""Representations of users, API keys and activity entries: never a password, hash or secret."""

from collections.abc import Mapping

from models import ApiKey, User
from schemas.common import timestamp


def _representation(record: object, plain: tuple[str, ...], times: tuple[str, ...]) -> dict:
    """These attributes of `record`, in this order: the plain ones as they are, then the times as timestamps."""
    body = {name: getattr(record, name) for name in plain}
    return body | {name: timestamp(getattr(record, name)) for name in times}


def user_representation(user: User) -> dict:
    """A user as shown to admins."""
    return _representation(user, ("id", "email", "role", "active", "email_verified"), ("created_at", "updated_at"))


def api_key_representation(key: ApiKey) -> dict:
    """A key as listed: its prefix, never the secret or its hash."""
    return _representation(key, ("id", "name", "prefix", "role"), ("created_at", "last_used_at", "revoked_at"))


def activity_representation(entry: Mapping) -> dict:
    """One entry of the activity trail."""
    return {
        "id": entry["pk"],
        "at": timestamp(entry["at"]),
        "actor": entry["actor"],
        "action": entry["action"],
        "target": entry["target"],
        "request_id": entry["request_id"],
        "client_address": entry["client_address"],
        "details": entry["details"],
    }
