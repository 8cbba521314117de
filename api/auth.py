"""Sign-up, sign-in, tokens, passwords and "who am I"."""

from flask import current_app

from api.responses import json_response, no_content
from api.security import caller
from schemas.customer import customer_representation
from services import auth
from services.context import client_address_var
from services.customers import record_of
from services.tokens import InvalidToken


def _limit(name: str, account: str | None = None) -> None:
    current_app.extensions["rate_limits"].hit(name, address=client_address_var.get(), account=account)


def _token_pair(pair: auth.TokenPair):
    return json_response(
        {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": "Bearer",
            "expires_in": pair.expires_in,
        }
    )


def _me_body(user, customer) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "email_verified": user.email_verified,
        "customer": customer_representation(record_of(customer)) if customer else None,
    }


def signup(body):
    """Create a customer account and mail a verification link."""
    _limit("signup", body["email"])
    user = auth.signup(body["email"], body["password"], body.get("first_name"), body.get("last_name"))
    _, customer = auth.me_of(user)
    return json_response(_me_body(user, customer), 201, {"Location": "/api/auth/me"})


def login(body):
    """Sign in and get a token pair."""
    _limit("login", body["email"])
    return _token_pair(auth.login(body["email"], body["password"]))


def refresh(body):
    """Swap a refresh token for a new pair."""
    try:
        subject = auth.token_codec().decode(body["refresh_token"], "refresh")["sub"]
    except InvalidToken:
        subject = None
    _limit("refresh", subject)
    return _token_pair(auth.refresh(body["refresh_token"]))


def logout():
    """End the current session."""
    auth.logout(caller())
    return no_content()


def request_reset(body):
    """Mail a reset link if the address belongs to an account; the answer is the same either way."""
    _limit("reset", body["email"].strip().lower())
    auth.request_reset(body["email"])
    return json_response({"detail": "If this address belongs to an account, a reset link is on its way."}, 202)


def confirm_reset(body):
    """Set a new password with a mailed reset token."""
    auth.confirm_reset(body["token"], body["password"])
    return no_content()


def verify_email(body):
    """Confirm the email address with a mailed token."""
    auth.verify_email(body["token"])
    return no_content()


def change_password(body):
    """Change the caller's password."""
    auth.change_password(caller(), body["current_password"], body["new_password"])
    return no_content()


def me():
    """Who the caller is."""
    user, customer = auth.me(caller())
    return json_response(_me_body(user, customer))
