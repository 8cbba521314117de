"""The Idempotency-Key header on POSTs that create money or points."""

import functools
import hashlib
from datetime import timedelta

import orjson
from flask import request

from api.responses import json_response
from api.security import caller
from services import idempotency
from services.errors import InvalidInput
from services.settings import current_settings

MAX_KEY = 128


def idempotent(handler):
    """Replay the first answer for a repeated Idempotency-Key; run the handler once per key."""

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return handler(*args, **kwargs)
        if not 1 <= len(key) <= MAX_KEY:
            raise InvalidInput.single("Idempotency-Key", f"must be 1 to {MAX_KEY} characters")
        owner = caller().label
        fingerprint = hashlib.sha256(
            request.method.encode()
            + b" "
            + request.path.encode()
            + b"\n"
            + orjson.dumps(kwargs.get("body"), option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        lease = timedelta(seconds=current_settings().idempotency_lease_seconds)
        claim = idempotency.claim(owner, key, fingerprint, lease)
        if claim.kept is not None:
            status, body, headers = claim.kept
            return json_response(body, status, {**headers, "Idempotent-Replayed": "true"})
        try:
            with idempotency.held(claim, lease):
                body, status, headers = handler(*args, **kwargs)
        except Exception:
            idempotency.release(claim)
            raise
        kept_headers = {k: v for k, v in headers.items() if k in ("Location", "ETag")}
        idempotency.remember(claim, status, body, kept_headers)
        return body, status, headers

    return wrapper
