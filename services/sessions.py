"""Sessions: signing in, refresh-token rotation, signing out, ending sessions, and the check of an access token."""

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import Session, object_session

from config import Settings
from models import RefreshToken, User, UserSession, db
from models.types import utcnow
from services.activity import record_activity
from services.context import Principal, client_address_var
from services.errors import Unauthenticated
from services.passwords import hash_password, needs_rehash, spend_verification_time, verify_password
from services.settings import current_settings
from services.tokens import ALGORITHM, InvalidToken, TokenCodec, new_secret

SIGN_IN_REFUSED = "The email or password is not right."
TOKEN_REFUSED = "The token is not valid, or no longer valid."  # noqa: S105 - a message, not a secret


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def codec_for(settings: Settings) -> TokenCodec:
    """The token codec of these settings: their signing key and token lifetimes."""
    return TokenCodec(settings.secret_key, settings.access_token_ttl, settings.refresh_token_ttl)


def token_codec() -> TokenCodec:
    """The token codec of the app being served (signing in and refreshing need it: read from services.settings)."""
    return codec_for(current_settings())


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
    """Check the credentials and open a session; every refusal looks and takes the same.

    The email comes as its key (services.customer_rules.email_key, applied by schemas.accounts.LoginInput).
    """
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


def _derived_jti(codec: TokenCodec, predecessor: str, kind: str) -> str:
    # Keyed on the signing key, so the successor of a token can be told only by the service.
    digest = hmac.new(codec.secret.encode(), f"{kind}:{predecessor}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def _signed(codec: TokenCodec, claims: dict, jti: str, issued_at: int, ttl: int) -> str:
    # Same claims, key and times give the same token (HS256 is deterministic): a repeat can be issued again.
    payload = {**claims, "jti": jti, "iat": issued_at, "exp": issued_at + ttl}
    return jwt.encode(payload, codec.secret, algorithm=ALGORITHM)


def _successor_pair(user: User, session: UserSession, predecessor: str, rotated_at: datetime) -> TokenPair:
    """The pair a refresh token is swapped for, a function of that token's id and the second it was used.

    Nothing secret is stored: a repeat within the grace period rebuilds the very pair the first use got.
    """
    codec = token_codec()
    issued_at = int(rotated_at.timestamp())
    refresh = _signed(
        codec,
        {"sub": user.id, "sid": session.id, "typ": "refresh"},
        _derived_jti(codec, predecessor, "refresh"),
        issued_at,
        codec.refresh_ttl,
    )
    access = _signed(
        codec,
        {"sub": user.id, "role": user.role, "sid": session.id, "typ": "access"},
        _derived_jti(codec, predecessor, "access"),
        issued_at,
        codec.access_ttl,
    )
    return TokenPair(access, refresh, max(0, issued_at + codec.access_ttl - int(time.time())))


def _rotate(user: User, session: UserSession, predecessor: str, rotated_at: datetime) -> TokenPair:
    codec = token_codec()
    pair = _successor_pair(user, session, predecessor, rotated_at)
    db.session.add(
        RefreshToken(
            jti=_derived_jti(codec, predecessor, "refresh"),
            session_id=session.id,
            expires_at=rotated_at + timedelta(seconds=codec.refresh_ttl),
        )
    )
    return pair


def _within_grace(jti: str) -> datetime | None:
    """When the token was rotated, if that was recent enough for a repeat to get the same pair."""
    used_at = db.session.scalar(select(RefreshToken.used_at).where(RefreshToken.jti == jti))
    grace = timedelta(seconds=current_settings().refresh_reuse_grace_seconds)
    if used_at is None or utcnow() - used_at > grace:
        return None
    return used_at


def refresh(refresh_token: str, *, allow_repeat: bool = False) -> TokenPair:
    """Swap a refresh token for a new pair; a token used twice ends its whole session.

    With allow_repeat (the console's cookie, shared by its tabs, which may refresh at once), a token presented
    again within REFRESH_REUSE_GRACE_SECONDS of its rotation gets the same pair again.
    """
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
    # Whole seconds: the successor's times are derived from this instant and must come out the same again.
    now = utcnow().replace(microsecond=0)
    unused = (RefreshToken.jti == token.jti, RefreshToken.used_at.is_(None))
    claimed = db.session.execute(update(RefreshToken).where(*unused).values(used_at=now)).rowcount
    if claimed != 1:
        rotated_at = _within_grace(token.jti) if allow_repeat else None
        repeat = _successor_pair(user, session, token.jti, rotated_at) if rotated_at else None
        db.session.rollback()
        if repeat is not None:
            return repeat
        _end_sessions([session_id], "refresh_token_reused")
        record_activity("auth.refresh_reused", f"user:{user_id}", actor=f"user:{user_id}", session=session_id)
        db.session.commit()
        raise Unauthenticated(TOKEN_REFUSED)
    pair = _rotate(user, session, token.jti, now)
    db.session.commit()
    return pair


def _end_sessions(session_ids: list[str], reason: str) -> None:
    if session_ids:
        _sessions_changed(db.session)
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
    _sessions_changed(db.session)
    db.session.execute(update(UserSession).where(*condition).values(ended_at=utcnow(), end_reason=reason))


def logout(principal: Principal) -> None:
    """End the caller's session: its access and refresh tokens stop working."""
    _end_sessions([principal.session_id], "logout")
    record_activity("auth.logout", principal.label)
    db.session.commit()


# Built once: this runs on every authenticated request, and building the statement costs more than running it.
SESSION_OF_TOKEN = (
    select(User.pk, User.id, User.role, User.customer_pk, User.active, UserSession.ended_at, UserSession.expires_at)
    .join(UserSession, UserSession.user_pk == User.pk)
    .where(UserSession.id == bindparam("sid"), User.id == bindparam("sub"))
)


class ConfirmedSessions:
    """The sessions this process confirmed with the database lately, trusted for a few seconds without asking again."""

    KEPT = 10_000  # entries; past that the whole table is dropped (it refills from the next requests)

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._entries: dict[tuple[str, str], tuple[float, Principal]] = {}

    def get(self, key: tuple[str, str]) -> Principal | None:
        """The caller of a session confirmed less than its window ago, or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def keep(self, key: tuple[str, str], principal: Principal, seconds: float, expires_at: datetime) -> None:
        """Trust this confirmation for `seconds`, never past the session's own end."""
        seconds = min(seconds, (expires_at - utcnow()).total_seconds())
        if seconds <= 0:
            return
        if len(self._entries) >= self.KEPT:
            self._entries.clear()
        self._entries[key] = (self.clock() + seconds, principal)

    def forget_all(self) -> None:
        """Ask the database again for every session (one was ended, or a user changed, in this process)."""
        self._entries.clear()


confirmed_sessions = ConfirmedSessions()
SESSIONS_CHANGED = "sessions_changed"  # a key of Session.info: this transaction ends sessions or changes a user


def _sessions_changed(session: Session) -> None:
    session.info[SESSIONS_CHANGED] = True


@event.listens_for(User, "after_update")
@event.listens_for(User, "after_delete")
def _user_changed(_mapper, _connection, user: User) -> None:
    """A user's role, link, or standing may have changed: this process forgets its confirmations at commit."""
    session = object_session(user)
    if session is not None:
        _sessions_changed(session)


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    if session.info.pop(SESSIONS_CHANGED, False):
        confirmed_sessions.forget_all()


@event.listens_for(Session, "after_rollback")
def _nothing_changed(session: Session) -> None:
    session.info.pop(SESSIONS_CHANGED, None)


def principal_from_access_claims(claims: dict) -> Principal:
    """The caller behind a valid access token, if its session and user are still good.

    A confirmation is reused for SESSION_CHECK_SECONDS (at most 2): within that window, a session ended by another
    process may still be accepted; one ended by this process is refused at once.
    """
    key = (claims["sid"], claims["sub"])
    window = float(current_settings().session_check_seconds)
    principal = confirmed_sessions.get(key) if window > 0 else None
    if principal is not None:
        return principal
    row = db.session.connection().execute(SESSION_OF_TOKEN, {"sid": claims["sid"], "sub": claims["sub"]}).first()
    if row is None or not row.active or row.ended_at is not None or row.expires_at <= utcnow():
        raise Unauthenticated("The session of this token has ended.")
    principal = Principal(
        kind="user", id=row.id, pk=row.pk, role=row.role, customer_pk=row.customer_pk, session_id=claims["sid"]
    )
    if window > 0:
        confirmed_sessions.keep(key, principal, window, row.expires_at)
    return principal
