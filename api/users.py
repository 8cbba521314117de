"""User management (admins)."""

from api.responses import json_response
from schemas.access import user_representation
from schemas.accounts import NewUserInput
from schemas.common import load_input
from services import users
from services.settings import current_settings

NEW_USER = NewUserInput()


def list_users(limit=None, cursor=None, role=None):
    """List users, one page at a time."""
    page = users.list_users(role=role, limit=limit or current_settings().page_size_default, cursor=cursor)
    return json_response({"items": [user_representation(u) for u in page.items], "next_cursor": page.next_cursor})


def create_user(body):
    """Create a staff member or an admin."""
    values = load_input(NEW_USER, body)
    user = users.add_user(values["email"], values["password"], values["role"])
    return json_response(user_representation(user), 201, {"Location": f"/api/users/{user.id}"})


def get_user(user_id):
    """Get one user."""
    return json_response(user_representation(users.user_from_id(user_id)))


def update_user(user_id, body):
    """Change a user's role or active state."""
    user = users.change_user(user_id, role=body.get("role"), active=body.get("active"))
    return json_response(user_representation(user))
