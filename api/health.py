"""Liveness and readiness probes."""

import logging

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from api.problems import database_cause
from api.responses import json_response
from services.errors import Unavailable
from services.schema import current_revision, head_revision
from services.tasks import queue_health

log = logging.getLogger(__name__)


def health():
    """Say the process is up."""
    return json_response({"status": "ok"})


def ready():
    """Say whether the database answers at the newest migration and the queue takes work; name the rate limits' state.

    Rate limits counted in each process while their shared storage (Redis) is down still protect sign-ins:
    that is reported, not refused.
    """
    try:
        revision = current_revision()
    except SQLAlchemyError as error:
        log.warning("not ready: the database does not answer: %s", database_cause(error))
        raise Unavailable("The database does not answer.") from None
    if revision != head_revision():
        raise Unavailable(f"The database schema is at {revision or 'no revision'}, not at {head_revision()}.")
    try:
        queue = queue_health()
    except Exception as error:  # noqa: BLE001 - whatever the queue's storage raised, work cannot be queued
        log.warning("not ready: the queue does not answer: %s", error)
        raise Unavailable("The queue does not answer: background work cannot be accepted.") from None
    rate_limits = current_app.extensions["rate_limits"].status()
    body = {"status": "ready", "database": "ok", "migrations": revision, "queue": queue, "rate_limits": rate_limits}
    return json_response(body)
