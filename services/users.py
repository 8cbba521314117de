"""User management by admins: listing, creating staff and admins, changing roles, deactivating."""

from decimal import Decimal

from sqlalchemy import select

from models import User, db
from models.types import utcnow
from models.user import ROLES
from services.accounts import ACCOUNT_UNIQUE_FIELDS, EMAIL_TAKEN, create_user, customer_for_email, normalised_email
from services.activity import record_activity
from services.database import by_public_id, unique_conflict
from services.errors import Conflict, InvalidInput
from services.pagination import Ordering, Page, cursor_signing_key, keyset_page
from services.passwords import BCRYPT_PREFIXES
from services.sessions import end_user_sessions
from services.tokens import new_secret

MANAGED_ROLES = ("admin", "staff")
IMPORTABLE_HASHES = (*BCRYPT_PREFIXES, "$argon2id$", "$argon2i$")


def user_from_id(user_id: str) -> User:
    """The user with this public id."""
    return by_public_id(User, user_id, "user")


OLDEST_FIRST = Ordering("users", [(User.pk, False, False)])
USER_LIST = OLDEST_FIRST.ordered(select(User))


def list_users(*, role: str | None, limit: int, cursor: str | None) -> Page:
    """Users in creation order, one keyset page at a time."""
    statement = USER_LIST if role is None else USER_LIST.where(User.role == role)
    return keyset_page(statement, OLDEST_FIRST, limit=limit, cursor=cursor, signing_key=cursor_signing_key())


def add_user(email: str, password: str, role: str) -> User:
    """Create a staff member or an admin, as schemas.accounts.NewUserInput loads them (a role of MANAGED_ROLES)."""
    user = create_user(email, password, role)
    user.email_verified = True  # an admin vouches for the address
    db.session.flush()
    record_activity("user.created", f"user:{user.id}", role=role)
    with unique_conflict(ACCOUNT_UNIQUE_FIELDS, EMAIL_TAKEN):
        db.session.commit()
    return user


def change_user(user_id: str, *, role: str | None = None, active: bool | None = None) -> User:
    """Change a user's role and/or deactivate (ending their sessions) or reactivate them; one active admin stays."""
    demoted = role is not None and role != "admin"
    if demoted or active is False:
        user = _user_leaving_admins(user_id, "role" if demoted else "active")
    else:
        user = user_from_id(user_id)
    if role is not None and role != user.role:
        record_activity("user.role_changed", f"user:{user.id}", old=user.role, new=role)
        user.role = role
    if active is not None and active != user.active:
        user.active = active
        if not active:
            end_user_sessions(user, "deactivated")
        record_activity("user.deactivated" if not active else "user.reactivated", f"user:{user.id}")
    user.updated_at = utcnow()
    db.session.commit()
    return user


def _user_leaving_admins(user_id: str, field: str) -> User:
    """The user about to stop being an active admin, if another active admin remains (else a 409 on `field`).

    The active admins' rows are locked first (FOR UPDATE on PostgreSQL; SQLite writers hold the database
    lock), so two admins demoting each other at once are checked one after the other.
    """
    active_admins = select(User.pk).where(User.role == "admin", User.active.is_(True)).with_for_update()
    admins = set(db.session.scalars(active_admins))
    user = by_public_id(User, user_id, "user", fresh=True)
    if user.pk in admins and not admins - {user.pk}:
        db.session.rollback()
        raise Conflict(
            field, "This is the last active admin: make another user admin first.", "would leave no active admin"
        )
    return user


def import_user(
    email: str, password_hash: str, role: str = "customer", *, signup_bonus: Decimal, **names: str | None
) -> User:
    """Bring over a user of the old system with its stored hash (bcrypt or argon2), upgraded at the next sign-in.

    A customer user is linked to the customer with the same email, or to a new one (`signup_bonus` in its
    wallet), as at sign-up.
    """
    if role not in ROLES:
        raise InvalidInput.single("role", f"must be one of {', '.join(ROLES)}")
    if not password_hash.startswith(IMPORTABLE_HASHES):
        raise InvalidInput.single("password_hash", "must be a bcrypt ($2a$, $2b$, $2y$) or argon2 hash")
    customer = customer_for_email(email, **names, signup_bonus=signup_bonus) if role == "customer" else None
    user = User(
        id=new_secret(12),
        email=normalised_email(email),
        password_hash=password_hash,
        role=role,
        customer_pk=customer.pk if customer else None,
        email_verified=False,
        active=True,
    )
    if db.session.scalar(select(User.pk).where(User.email == user.email)) is not None:
        raise Conflict("email", EMAIL_TAKEN)
    db.session.add(user)
    db.session.flush()
    record_activity("user.imported", f"user:{user.id}", actor="system", role=role)
    with unique_conflict(ACCOUNT_UNIQUE_FIELDS, EMAIL_TAKEN):
        db.session.commit()
    return user
