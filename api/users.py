"""User management (admins)."""

from flask import current_app

from api.responses import json_response
from schemas.access import user_representation
from services import users


def list_users(limit=None, cursor=None, role=None):
    """List users, one page at a time."""
    page = users.list_users(role=role, limit=limit or current_app.config["PAGE_SIZE_DEFAULT"], cursor=cursor)
    return json_response({"items": [user_representation(u) for u in page.items], "next_cursor": page.next_cursor})


def create_user(body):
    """Create a staff member or an admin."""
    user = users.add_user(body["email"], body["password"], body["role"])
    return json_response(user_representation(user), 201, {"Location": f"/api/users/{user.id}"})


def get_user(user_id):
    """Get one user."""
    return json_response(user_representation(users.user_from_id(user_id)))


def update_user(user_id, body):
    """Change a user's role or active state."""
    user = users.change_user(user_id, role=body.get("role"), active=body.get("active"))
    return json_response(user_representation(user))
