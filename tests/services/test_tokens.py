"""Access tokens: a token checked once is not checked again, yet it still expires and keeps its type."""

import time

import pytest

from services.tokens import InvalidToken, TokenCodec

SECRET = "a-signing-key-of-at-least-32-bytes-for-tests"


def test_a_checked_token_still_expires():
    """The second use skips the signature check but not the expiry: past `exp` it is refused."""
    codec = TokenCodec(SECRET, access_ttl=1, refresh_ttl=60)
    issued = codec.issue_access(user_id="u1", role="staff", session_id="s1")
    assert codec.decode(issued.token, "access")["sub"] == "u1"
    assert codec.decode(issued.token, "access")["sid"] == "s1"
    time.sleep(max(0.0, issued.expires_at - time.time()) + 0.05)
    with pytest.raises(InvalidToken, match="expired"):
        codec.decode(issued.token, "access")


def test_a_checked_token_keeps_its_type():
    """An access token accepted once is still no refresh token."""
    codec = TokenCodec(SECRET, access_ttl=60, refresh_ttl=60)
    token = codec.issue_access(user_id="u1", role="staff", session_id="s1").token
    codec.decode(token, "access")
    with pytest.raises(InvalidToken, match="not an refresh token"):
        codec.decode(token, "refresh")


def test_a_token_checked_by_one_key_is_not_trusted_by_another():
    """Each codec keeps its own checked tokens: a token of another key is checked, and refused."""
    token = TokenCodec(SECRET, 60, 60).issue_access(user_id="u1", role="staff", session_id="s1").token
    TokenCodec(SECRET, 60, 60).decode(token, "access")
    with pytest.raises(InvalidToken):
        TokenCodec("another-signing-key-of-at-least-32-bytes", 60, 60).decode(token, "access")


def test_the_claims_handed_out_are_copies():
    """A caller changing the claims it got does not change what the next request sees."""
    codec = TokenCodec(SECRET, 60, 60)
    token = codec.issue_access(user_id="u1", role="staff", session_id="s1").token
    codec.decode(token, "access")["role"] = "admin"
    assert codec.decode(token, "access")["role"] == "staff"
