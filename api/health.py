"""Liveness and readiness probes."""

from sqlalchemy.exc import SQLAlchemyError

from api.responses import json_response
from services.errors import Unavailable
from services.schema import current_revision, head_revision


def health():
    """Say the process is up."""
    return json_response({"status": "ok"})


def ready():
    """Say whether the database answers and its schema is at the newest migration."""
    try:
        revision = current_revision()
    except SQLAlchemyError:
        raise Unavailable("The database does not answer.") from None
    if revision != head_revision():
        raise Unavailable(f"The database schema is at {revision or 'no revision'}, not at {head_revision()}.")
    return json_response({"status": "ready", "database": "ok", "migrations": revision})
