"""Password storage (argon2id, OWASP parameters), legacy bcrypt verification, and the password policy."""

from functools import lru_cache

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 8
MAX_LENGTH = 128
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether the password matches an argon2 hash or a legacy bcrypt one."""
    if stored_hash.startswith(BCRYPT_PREFIXES):
        # bcrypt only ever read the first 72 bytes; older libraries cut the rest silently.
        candidate = password.encode()[:72]
        try:
            return bcrypt.checkpw(candidate, stored_hash.encode())
        except ValueError:
            return False
    try:
        return HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash should be replaced by one with the current parameters."""
    if stored_hash.startswith(BCRYPT_PREFIXES):
        return True
    try:
        return HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash to verify against when there is no user, so both cases cost the same time."""
    return hash_password("no user has this password, it only spends the time a real check would")


def spend_verification_time(password: str) -> None:
    """Verify against the dummy hash: an unknown email costs the same as a wrong password."""
    verify_password(dummy_hash(), password)


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common passwords from public leaks.
    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, email: str | None) -> str | None:
    """Why the password is refused by the policy, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if email and password.strip().lower() == email.strip().lower():
        return "must not be the email address"
    if password.lower() in _common_passwords():
        return "is too common; choose one that is not on lists of leaked passwords"
    return None
