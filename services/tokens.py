"""Signed tokens (JWT, HS256) for access and refresh, and random secrets for everything else."""

import hashlib
import secrets
import time
from dataclasses import dataclass, field

import jwt

ALGORITHM = "HS256"
CHECKED_TOKENS_KEPT = 10_000  # tokens whose signature was checked, kept so a token's next request skips it
REQUIRED_CLAIMS = ["sub", "sid", "jti", "iat", "exp", "typ"]


class InvalidToken(Exception):
    """The token is not one this service issued, or no longer valid."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: int


@dataclass(frozen=True)
class TokenCodec:
    """Issues and checks the service's JWTs with one signing key."""

    secret: str
    access_ttl: int
    refresh_ttl: int
    # token -> its claims, once its signature checked out: a signature does not change, its expiry is checked each time.
    _checked: dict[str, dict] = field(default_factory=dict, compare=False, repr=False)

    def issue_access(self, *, user_id: str, role: str, session_id: str) -> IssuedToken:
        """A short-lived access token for one session."""
        return self._issue({"sub": user_id, "role": role, "sid": session_id, "typ": "access"}, self.access_ttl)

    def issue_refresh(self, *, user_id: str, session_id: str) -> IssuedToken:
        """A refresh token, good for one use, within one session."""
        return self._issue({"sub": user_id, "sid": session_id, "typ": "refresh"}, self.refresh_ttl)

    def _issue(self, claims: dict, ttl: int) -> IssuedToken:
        now = int(time.time())
        jti = new_secret(16)
        payload = {**claims, "jti": jti, "iat": now, "exp": now + ttl}
        return IssuedToken(jwt.encode(payload, self.secret, algorithm=ALGORITHM), jti, now + ttl)

    def decode(self, token: str, expected_type: str) -> dict:
        """The claims of a valid token of the expected type (signature, algorithm, expiry checked)."""
        claims = self._checked.get(token)
        if claims is None:
            try:
                claims = jwt.decode(token, self.secret, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS})
            except jwt.PyJWTError as exc:
                raise InvalidToken(str(exc)) from None
            if len(self._checked) >= CHECKED_TOKENS_KEPT:
                self._checked.clear()
            self._checked[token] = claims
        elif claims["exp"] <= time.time():  # as PyJWT counts it: expired from its `exp` second on
            self._checked.pop(token, None)
            raise InvalidToken("Signature has expired")
        if claims.get("typ") != expected_type:
            raise InvalidToken(f"not an {expected_type} token")
        return dict(claims)


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret."""
    return secrets.token_urlsafe(nbytes)


def secret_digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret (mailed tokens, API keys): enough, as they cannot be guessed."""
    return hashlib.sha256(secret.encode()).hexdigest()
