"""API keys for machine clients (admins)."""

from api.responses import json_response, no_content
from schemas.access import api_key_representation
from schemas.accounts import NewApiKeyInput
from schemas.common import load_input
from services import api_keys

NEW_API_KEY = NewApiKeyInput()


def list_api_keys():
    """List keys, never their secrets."""
    return json_response({"items": [api_key_representation(k) for k in api_keys.list_api_keys()]})


def create_api_key(body):
    """Create a key; its secret is in this answer only."""
    key, raw = api_keys.create_api_key(load_input(NEW_API_KEY, body)["name"])
    return json_response({**api_key_representation(key), "key": raw}, 201, {"Location": f"/api/api-keys/{key.id}"})


def revoke_api_key(key_id):
    """Revoke a key."""
    api_keys.revoke_api_key(key_id)
    return no_content()
