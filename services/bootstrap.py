"""First start in development: an admin to sign in with, its password printed once to the log."""

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from models import User, db
from services.accounts import create_user
from services.activity import record_activity
from services.tokens import new_secret

log = logging.getLogger(__name__)
FIRST_ADMIN_EMAIL = "admin@example.com"


def create_first_admin() -> str | None:
    """Create an admin when there are no users at all; return its one-time password (logged once)."""
    if db.session.scalar(select(func.count()).select_from(User)):
        return None
    password = new_secret(18)
    user = create_user(FIRST_ADMIN_EMAIL, password, "admin")
    user.email_verified = True
    record_activity("user.created", f"email:{FIRST_ADMIN_EMAIL}", actor="system", role="admin")
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another worker starting at the same time made it first
        return None
    log.warning(
        "No users existed: created the admin %s with the one-time password %s (change it with "
        "POST /api/auth/password, or create your own admin with `flask --app app users create`).",
        FIRST_ADMIN_EMAIL,
        password,
    )
    return password
