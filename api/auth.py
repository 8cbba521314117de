"""Sign-up, sign-in, tokens, passwords and "who am I"."""

from flask import current_app

from api.responses import json_response, no_content
from api.security import caller
from schemas.accounts import me_representation
from services import accounts, sessions
from services.context import client_address_var
from services.customer_rules import email_key
from services.tokens import InvalidToken


def _limit(name: str, account: str | None = None, **other_keys: str | None) -> None:
    limits = current_app.extensions["rate_limits"]
    limits.hit(name, address=client_address_var.get(), account=account, **other_keys)


def _token_pair(pair: sessions.TokenPair):
    return json_response(
        {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": "Bearer",
            "expires_in": pair.expires_in,
        }
    )


SIGNUP_ACCEPTED = "Thank you: a mail to this address tells what comes next. Sign in once you have read it."
EMAIL_CHANGE_ACCEPTED = "If the address can be used, a mail to it holds the link that confirms the change."


def signup(body):
    """Open a customer account; the answer is the same whether or not the address is known."""
    _limit("signup", email_key(body["email"]))
    accounts.signup(body["email"], body["password"], body.get("first_name"), body.get("last_name"))
    return json_response({"detail": SIGNUP_ACCEPTED}, 202)


def login(body):
    """Sign in and get a token pair."""
    _limit("login", email_key(body["email"]))
    return _token_pair(sessions.login(body["email"], body["password"]))


def refresh(body):
    """Swap a refresh token for a new pair."""
    try:
        subject = sessions.token_codec().decode(body["refresh_token"], "refresh")["sub"]
    except InvalidToken:
        subject = None
    _limit("refresh", subject)
    return _token_pair(sessions.refresh(body["refresh_token"]))


def logout():
    """End the current session."""
    sessions.logout(caller())
    return no_content()


def request_reset(body):
    """Mail a reset link if the address belongs to an account; the answer is the same either way."""
    _limit("reset", email_key(body["email"]))
    accounts.request_reset(body["email"])
    return json_response({"detail": "If this address belongs to an account, a reset link is on its way."}, 202)


def confirm_reset(body):
    """Set a new password with a mailed reset token."""
    accounts.confirm_reset(body["token"], body["password"])
    return no_content()


def verify_email(body):
    """Confirm the email address with a mailed token (a claim link also takes the new password)."""
    accounts.verify_email(body["token"], body.get("password"))
    return no_content()


def change_password(body):
    """Change the caller's password; wrong guesses of the current one are limited per account."""
    principal = caller()
    _limit("password", principal.id)
    accounts.change_password(principal, body["current_password"], body["new_password"])
    return no_content()


def request_email_change(body):
    """Mail a link that moves the account to a new address; the answer does not tell whether it is taken."""
    principal = caller()
    _limit("email", principal.id, new_address=email_key(body["email"]))
    accounts.request_email_change(principal, body["email"])
    return json_response({"detail": EMAIL_CHANGE_ACCEPTED}, 202)


def confirm_email_change(body):
    """Move the account to the address the mailed token was sent to."""
    accounts.confirm_email_change(body["token"])
    return no_content()


def me():
    """Who the caller is."""
    user, customer = accounts.me(caller())
    return json_response(me_representation(user, customer))
