"""Representations of users, API keys and activity entries: never a password, hash or secret."""

from collections.abc import Mapping

from models import ApiKey, User
from schemas.common import timestamp


def user_representation(user: User) -> dict:
    """A user as shown to admins."""
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "active": user.active,
        "email_verified": user.email_verified,
        "created_at": timestamp(user.created_at),
        "updated_at": timestamp(user.updated_at),
    }


def api_key_representation(key: ApiKey) -> dict:
    """A key as listed: its prefix, never the secret or its hash."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "role": key.role,
        "created_at": timestamp(key.created_at),
        "last_used_at": timestamp(key.last_used_at),
        "revoked_at": timestamp(key.revoked_at),
    }


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
