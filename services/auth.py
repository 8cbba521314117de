"""Signing up, signing in and out, refreshing, resetting and changing passwords, verifying email."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from models import Customer, OneTimeToken, RefreshToken, User, UserSession, db
from models.types import utcnow
from services import mail
from services.activity import record_activity
from services.context import Principal, client_address_var
from services.customer_rules import normalise_email
from services.errors import Conflict, InvalidInput, Unauthenticated
from services.passwords import hash_password, needs_rehash, password_problem, spend_verification_time, verify_password
from services.rewards import open_wallet
from services.tokens import InvalidToken, TokenCodec, new_secret, secret_digest

SIGN_IN_REFUSED = "The email or password is not right."
TOKEN_REFUSED = "The token is not valid, or no longer valid."  # noqa: S105 - a message, not a secret


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def token_codec() -> TokenCodec:
    """The app's token codec."""
    return current_app.extensions["token_codec"]


def normalised_email(email: str, field: str = "email") -> str:
    try:
        return normalise_email(email)
    except ValueError as exc:
        raise InvalidInput.single(field, str(exc)) from None


def _check_password_policy(password: str, email: str | None, field: str = "password") -> None:
    problem = password_problem(password, email)
    if problem:
        raise InvalidInput.single(field, problem)


def _new_user_id() -> str:
    return new_secret(12)


def create_user(email: str, password: str, role: str, *, customer: Customer | None = None) -> User:
    """Add a user (not committed); a taken email is a Conflict."""
    email = normalised_email(email)
    _check_password_policy(password, email)
    if db.session.scalar(select(User.pk).where(User.email == email)) is not None:
        raise Conflict("email", "A user with this email already exists.")
    user = User(
        id=_new_user_id(),
        email=email,
        password_hash=hash_password(password),
        role=role,
        customer_pk=customer.pk if customer else None,
        email_verified=False,
        active=True,
    )
    db.session.add(user)
    return user


def commit_or_conflict(field: str, detail: str) -> None:
    """Commit; a unique violation (a concurrent duplicate) becomes a Conflict on `field`."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(field, detail) from None


def signup(email: str, password: str, first_name: str | None = None, last_name: str | None = None) -> User:
    """Create a customer account, linked to the customer with that email (or a new one); mail a verify link."""
    email = normalised_email(email)
    _check_password_policy(password, email)
    customer = customer_for_email(email, first_name=first_name, last_name=last_name)
    user = create_user(email, password, "customer", customer=customer)
    db.session.flush()
    record_activity("auth.signup", f"user:{user.id}", actor=f"user:{user.id}")
    raw_token = _new_one_time_token(user, "verify", current_app.config["VERIFY_TOKEN_TTL"])
    commit_or_conflict("email", "A user with this email already exists.")
    _mail_verify_link(user.email, raw_token)
    return user


def customer_for_email(email: str, first_name: str | None = None, last_name: str | None = None) -> Customer:
    """The customer with this email, or a new one (flushed, not committed)."""
    email = normalised_email(email)
    customer = db.session.scalars(select(Customer).where(Customer.email == email)).first()
    if customer is None:
        now = utcnow()
        customer = Customer(
            id=new_secret(12), email=email, first_name=first_name, last_name=last_name, created_at=now, updated_at=now
        )
        db.session.add(customer)
        db.session.flush()
        open_wallet(customer)
    return customer


def _new_one_time_token(user: User, purpose: str, ttl: int) -> str:
    """Replace any unused token of this purpose with a new one; return the raw token (never stored)."""
    now = utcnow()
    db.session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.user_pk == user.pk, OneTimeToken.purpose == purpose, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
    )
    raw = new_secret(32)
    db.session.add(
        OneTimeToken(
            user_pk=user.pk,
            purpose=purpose,
            token_hash=secret_digest(raw),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    return raw


def _link(path: str, token: str) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}/{path}?token={token}"


def _mail_verify_link(email: str, token: str) -> None:
    hours = current_app.config["VERIFY_TOKEN_TTL"] // 3600
    mail.send_mail(
        email,
        "Confirm your email address",
        f"Welcome! Confirm your email address by opening this link within {hours} hours:\n\n"
        f"{_link('verify', token)}\n\nIf you did not sign up, ignore this message.\n",
    )


def _start_session(user: User) -> TokenPair:
    codec = token_codec()
    now = utcnow()
    session = UserSession(
        id=new_secret(16),
        user_pk=user.pk,
        created_at=now,
        expires_at=now + timedelta(seconds=codec.refresh_ttl),
        client_address=client_address_var.get(),
    )
    db.session.add(session)
    db.session.flush()  # the session row must exist before its refresh token refers to it
    return _issue_pair(user, session)


def _issue_pair(user: User, session: UserSession) -> TokenPair:
    codec = token_codec()
    refresh = codec.issue_refresh(user_id=user.id, session_id=session.id)
    access = codec.issue_access(user_id=user.id, role=user.role, session_id=session.id)
    db.session.add(
        RefreshToken(
            jti=refresh.jti,
            session_id=session.id,
            expires_at=datetime.fromtimestamp(refresh.expires_at, UTC),
        )
    )
    return TokenPair(access.token, refresh.token, codec.access_ttl)


def login(email: str, password: str) -> TokenPair:
    """Check the credentials and open a session; every refusal looks and takes the same."""
    try:
        email = normalise_email(email)
    except ValueError:
        email = email.strip().lower()
    user = db.session.scalars(select(User).where(User.email == email)).first()
    if user is None:
        spend_verification_time(password)
    if user is None or not verify_password(user.password_hash, password) or not user.active:
        record_activity("auth.login_failed", f"email:{email}", actor=f"user:{user.id}" if user else None)
        db.session.commit()
        raise Unauthenticated(SIGN_IN_REFUSED)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    pair = _start_session(user)
    record_activity("auth.login", f"user:{user.id}", actor=f"user:{user.id}")
    db.session.commit()
    return pair


def refresh(refresh_token: str) -> TokenPair:
    """Swap a refresh token for a new pair; a token used twice ends its whole session."""
    try:
        claims = token_codec().decode(refresh_token, "refresh")
    except InvalidToken:
        raise Unauthenticated(TOKEN_REFUSED) from None
    row = db.session.execute(
        select(RefreshToken, UserSession, User)
        .join(UserSession, RefreshToken.session_id == UserSession.id)
        .join(User, UserSession.user_pk == User.pk)
        .where(RefreshToken.jti == claims["jti"])
    ).first()
    if row is None:
        raise Unauthenticated(TOKEN_REFUSED)
    token, session, user = row
    session_id, user_id = session.id, user.id
    if session.ended_at is not None or not user.active or session.expires_at <= utcnow():
        raise Unauthenticated(TOKEN_REFUSED)
    # Marking the token used is one conditional UPDATE, so two concurrent refreshes cannot both win.
    unused = (RefreshToken.jti == token.jti, RefreshToken.used_at.is_(None))
    claimed = db.session.execute(update(RefreshToken).where(*unused).values(used_at=utcnow())).rowcount
    if claimed != 1:
        db.session.rollback()
        _end_sessions([session_id], "refresh_token_reused")
        record_activity("auth.refresh_reused", f"user:{user_id}", actor=f"user:{user_id}", session=session_id)
        db.session.commit()
        raise Unauthenticated(TOKEN_REFUSED)
    pair = _issue_pair(user, session)
    db.session.commit()
    return pair


def _end_sessions(session_ids: list[str], reason: str) -> None:
    if session_ids:
        db.session.execute(
            update(UserSession)
            .where(UserSession.id.in_(session_ids), UserSession.ended_at.is_(None))
            .values(ended_at=utcnow(), end_reason=reason)
        )


def end_user_sessions(user: User, reason: str, *, keep: str | None = None) -> None:
    """End every open session of the user, except `keep`."""
    condition = [UserSession.user_pk == user.pk, UserSession.ended_at.is_(None)]
    if keep is not None:
        condition.append(UserSession.id != keep)
    db.session.execute(update(UserSession).where(*condition).values(ended_at=utcnow(), end_reason=reason))


def logout(principal: Principal) -> None:
    """End the caller's session: its access and refresh tokens stop working."""
    _end_sessions([principal.session_id], "logout")
    record_activity("auth.logout", principal.label)
    db.session.commit()


def request_reset(email: str) -> None:
    """Mail a single-use reset link if the email belongs to an active user; say nothing either way."""
    try:
        email = normalise_email(email)
    except ValueError:
        return
    user = db.session.scalars(select(User).where(User.email == email, User.active.is_(True))).first()
    if user is None:
        spend_verification_time("")  # keep the answer time alike for known and unknown emails
        return
    raw_token = _new_one_time_token(user, "reset", current_app.config["RESET_TOKEN_TTL"])
    record_activity("auth.reset_requested", f"user:{user.id}", actor=None)
    db.session.commit()
    minutes = current_app.config["RESET_TOKEN_TTL"] // 60
    mail.send_mail(
        user.email,
        "Reset your password",
        f"Someone asked to reset the password of this account. To choose a new password, open this link "
        f"within {minutes} minutes:\n\n{_link('reset', raw_token)}\n\n"
        "If it was not you, ignore this message: your password stays as it is.\n",
    )


def _redeem(raw_token: str, purpose: str) -> User:
    """Use a mailed token once; an unknown, used, expired or superseded token is a 400 on `token`."""
    now = utcnow()
    token = db.session.scalars(
        select(OneTimeToken).where(OneTimeToken.token_hash == secret_digest(raw_token), OneTimeToken.purpose == purpose)
    ).first()
    if token is None or token.used_at is not None or token.expires_at <= now:
        raise InvalidInput.single("token", "is invalid, expired or already used")
    claimed = db.session.execute(
        update(OneTimeToken).where(OneTimeToken.pk == token.pk, OneTimeToken.used_at.is_(None)).values(used_at=now)
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        raise InvalidInput.single("token", "is invalid, expired or already used")
    user = db.session.get(User, token.user_pk)
    if user is None or not user.active:
        db.session.rollback()
        raise InvalidInput.single("token", "is invalid, expired or already used")
    return user


def confirm_reset(raw_token: str, password: str) -> None:
    """Set a new password with a reset token; every session of the user ends and a notice is mailed."""
    token_hash = secret_digest(raw_token)
    owner_email = db.session.scalar(
        select(User.email)
        .join(OneTimeToken, OneTimeToken.user_pk == User.pk)
        .where(OneTimeToken.token_hash == token_hash)
    )
    if owner_email is not None:
        _check_password_policy(password, owner_email)
    user = _redeem(raw_token, "reset")
    user.password_hash = hash_password(password)
    user.updated_at = utcnow()
    user.email_verified = True  # the reset link reached this mailbox
    end_user_sessions(user, "password_reset")
    record_activity("auth.reset", f"user:{user.id}", actor=f"user:{user.id}")
    db.session.commit()
    mail.send_mail(
        user.email,
        "Your password was changed",
        "The password of this account was just reset, and every device signed in was signed out.\n"
        "If it was not you, reset it again at once and contact us.\n",
    )


def verify_email(raw_token: str) -> None:
    """Mark the email of the token's user as verified."""
    user = _redeem(raw_token, "verify")
    user.email_verified = True
    user.updated_at = utcnow()
    record_activity("auth.email_verified", f"user:{user.id}", actor=f"user:{user.id}")
    db.session.commit()


def change_password(principal: Principal, current_password: str, new_password: str) -> None:
    """Replace the caller's password; their other sessions end."""
    user = db.session.get(User, principal.pk)
    if not verify_password(user.password_hash, current_password):
        raise InvalidInput.single("current_password", "is not right")
    _check_password_policy(new_password, user.email, field="new_password")
    user.password_hash = hash_password(new_password)
    user.updated_at = utcnow()
    end_user_sessions(user, "password_changed", keep=principal.session_id)
    record_activity("auth.password_changed", principal.label)
    db.session.commit()


# Built once: this runs on every authenticated request, and building the statement costs more than running it.
SESSION_OF_TOKEN = (
    select(User.pk, User.id, User.role, User.customer_pk, User.active, UserSession.ended_at, UserSession.expires_at)
    .join(UserSession, UserSession.user_pk == User.pk)
    .where(UserSession.id == bindparam("sid"), User.id == bindparam("sub"))
)


def principal_from_access_claims(claims: dict) -> Principal:
    """The caller behind a valid access token, if its session and user are still good."""
    row = db.session.execute(SESSION_OF_TOKEN, {"sid": claims["sid"], "sub": claims["sub"]}).first()
    if row is None or not row.active or row.ended_at is not None or row.expires_at <= utcnow():
        raise Unauthenticated("The session of this token has ended.")
    return Principal(
        kind="user", id=row.id, pk=row.pk, role=row.role, customer_pk=row.customer_pk, session_id=claims["sid"]
    )


def me(principal: Principal) -> tuple[User, Customer | None]:
    """The caller's user record and linked customer."""
    return me_of(db.session.get(User, principal.pk))


def me_of(user: User) -> tuple[User, Customer | None]:
    """A user record with its linked customer."""
    customer = db.session.get(Customer, user.customer_pk) if user.customer_pk else None
    return user, customer
