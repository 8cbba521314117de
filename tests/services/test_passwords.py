"""Password hashing parameters, legacy bcrypt, and the policy."""

import bcrypt
import pytest

from services.passwords import hash_password, needs_rehash, password_problem, verify_password


def test_hashes_are_argon2id_with_owasp_parameters():
    """m=19 MiB, t=2, p=1, and a fresh salt each time."""
    first, second = hash_password("some passphrase"), hash_password("some passphrase")
    assert first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert first != second
    assert verify_password(first, "some passphrase")
    assert not verify_password(first, "some passphrasf")
    assert not needs_rehash(first)


def test_weaker_argon2_parameters_ask_for_a_rehash():
    """A hash made with other parameters is upgraded at the next sign-in."""
    from argon2 import PasswordHasher

    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("some passphrase")
    assert verify_password(old, "some passphrase")
    assert needs_rehash(old)


def test_bcrypt_hashes_verify_and_ask_for_a_rehash():
    """Legacy bcrypt hashes (also of passwords past 72 bytes, as they were cut) verify."""
    legacy = bcrypt.hashpw(b"old passphrase", bcrypt.gensalt(4)).decode()
    assert verify_password(legacy, "old passphrase")
    assert not verify_password(legacy, "other passphrase")
    assert needs_rehash(legacy)
    long_password = "x" * 100
    cut = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(4)).decode()
    assert verify_password(cut, long_password)


@pytest.mark.parametrize("stored", ["", "plain", "$2b$broken", "$argon2id$broken"])
def test_unreadable_hashes_never_verify(stored):
    """A damaged stored hash refuses every password rather than failing."""
    assert not verify_password(stored, "anything at all")


@pytest.mark.parametrize(
    ("password", "email", "expected"),
    [
        ("a fine passphrase", "a@example.com", None),
        ("1234567", None, "at least 8"),
        ("x" * 129, None, "at most 128"),
        ("A@Example.com", "a@example.com", "email"),
        ("iloveyou", None, "common"),
        ("Password1", None, "common"),
        ("x" * 128, None, None),
    ],
)
def test_policy(password, email, expected):
    """8..128 characters, not the email, not on the common-password list."""
    problem = password_problem(password, email)
    if expected is None:
        assert problem is None
    else:
        assert expected in problem
