"""API keys for machine clients: created by admins, shown once, stored as a hash, revocable."""

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from models import ApiKey, db
from models.types import utcnow
from services.activity import record_activity
from services.context import Principal, current_principal
from services.database import by_public_id
from services.errors import Unauthenticated
from services.tokens import new_secret, secret_digest

KEY_PREFIX = "ci_"
# Recording every use would turn each read into a write; once a minute tells enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def create_api_key(name: str) -> tuple[ApiKey, str]:
    """A new integration key named `name` (trimmed by schemas.accounts.NewApiKeyInput); the raw key is returned
    here and never again."""
    raw = KEY_PREFIX + new_secret(32)
    principal = current_principal()
    key = ApiKey(
        id=new_secret(9),
        name=name,
        prefix=raw[:10],
        key_hash=secret_digest(raw),
        role="integration",
        created_by_pk=principal.pk if principal and principal.kind == "user" else None,
    )
    db.session.add(key)
    db.session.flush()
    record_activity("api_key.created", f"api-key:{key.id}", name=key.name)
    db.session.commit()
    return key, raw


def list_api_keys() -> list[ApiKey]:
    """Every key, newest first."""
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.pk.desc())))


def revoke_api_key(key_id: str) -> None:
    """Stop a key from working."""
    key = by_public_id(ApiKey, key_id, "API key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        record_activity("api_key.revoked", f"api-key:{key.id}")
    db.session.commit()


def principal_from_api_key(raw: str) -> Principal:
    """The machine client holding this key, if it exists and is not revoked."""
    key = db.session.scalars(select(ApiKey).where(ApiKey.key_hash == secret_digest(raw))).first()
    if key is None or key.revoked_at is not None:
        raise Unauthenticated("The API key is not valid.")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        try:
            db.session.execute(update(ApiKey).where(ApiKey.pk == key.pk).values(last_used_at=now))
            db.session.commit()
        except OperationalError:
            db.session.rollback()  # a busy database only delays this note; the request goes on
    return Principal(kind="api-key", id=key.id, pk=key.pk, role=key.role)
