"""Sign-up, sign-in, tokens, passwords and "who am I"."""

from flask import current_app, request

from api.responses import json_response, no_content
from api.security import caller
from schemas.accounts import (
    EmailChangeInput,
    LoginInput,
    PasswordChangeInput,
    ResetConfirmInput,
    ResetRequestInput,
    SignupInput,
    VerifyInput,
    me_representation,
)
from schemas.common import load_input
from services import accounts, sessions
from services.context import client_address_var
from services.customer_rules import email_key
from services.errors import Forbidden, InvalidInput, Unauthenticated
from services.settings import current_settings
from services.tokens import InvalidToken
from web import refresh_cookie


def _limit(name: str, account: str | None = None, **other_keys: str | None) -> None:
    limits = current_app.extensions["rate_limits"]
    limits.hit(name, address=client_address_var.get(), account=account, **other_keys)


def _token_pair(pair: sessions.TokenPair):
    body = {"access_token": pair.access_token, "token_type": "Bearer", "expires_in": pair.expires_in}
    if not refresh_cookie.cookie_mode(request):
        return json_response({**body, "refresh_token": pair.refresh_token})
    # The console's way: the refresh token goes where its scripts cannot read it.
    settings = current_settings()
    secure = refresh_cookie.request_is_https(request, settings)
    return json_response(body, headers=refresh_cookie.set_cookie_headers(pair.refresh_token, settings, secure))


COOKIE_WITHOUT_HEADER = "The refresh token cookie is accepted only with the X-Refresh-Cookie: 1 header."


def _presented_refresh_token(body: dict | None) -> tuple[str, bool]:
    """The refresh token of the body, or else of the cookie (and whether it came from the cookie)."""
    if body and body.get("refresh_token"):
        return body["refresh_token"], False
    token = refresh_cookie.cookie_token(request)
    if not refresh_cookie.cookie_mode(request):
        # A cross-site form post carries the cookie but cannot add the header.
        if token is not None:
            raise Forbidden(COOKIE_WITHOUT_HEADER)
        raise InvalidInput.single("refresh_token", "is required")
    if token is None:
        raise Unauthenticated(sessions.TOKEN_REFUSED)
    return token, True


# Limits are hit before a body is loaded, so a refused body counts as an attempt as any other does (sign-in
# loads first: its load refuses nothing and gives the key the limit counts by).
SIGNUP, LOGIN, RESET_REQUEST, RESET_CONFIRM = SignupInput(), LoginInput(), ResetRequestInput(), ResetConfirmInput()
VERIFY, PASSWORD_CHANGE, EMAIL_CHANGE = VerifyInput(), PasswordChangeInput(), EmailChangeInput()

SIGNUP_ACCEPTED = "Thank you: a mail to this address tells what comes next. Sign in once you have read it."
EMAIL_CHANGE_ACCEPTED = "If the address can be used, a mail to it holds the link that confirms the change."


def signup(body):
    """Open a customer account; the answer is the same whether or not the address is known."""
    _limit("signup", email_key(body["email"]))
    accounts.signup(**load_input(SIGNUP, body), settings=current_settings())  # email, password and the names
    return json_response({"detail": SIGNUP_ACCEPTED}, 202)


def login(body):
    """Sign in and get a token pair."""
    values = load_input(LOGIN, body)  # the email as its key: the limit and the look-up use the same
    _limit("login", values["email"])
    return _token_pair(sessions.login(values["email"], values["password"]))


def refresh(body):
    """Swap a refresh token (from the body, or the console's cookie) for a new pair."""
    token, from_cookie = _presented_refresh_token(body)
    try:
        subject = sessions.token_codec().decode(token, "refresh")["sub"]
    except InvalidToken:
        subject = None
    _limit("refresh", subject)
    return _token_pair(sessions.refresh(token, allow_repeat=from_cookie))


def logout():
    """End the current session (and, asked with X-Refresh-Cookie: 1, remove the console's cookie)."""
    sessions.logout(caller())
    response = no_content()
    if refresh_cookie.cookie_mode(request):
        secure = refresh_cookie.request_is_https(request, current_settings())
        response.headers.extend(refresh_cookie.clear_cookie_headers(secure))
    return response


def request_reset(body):
    """Mail a reset link if the address belongs to an account; the answer is the same either way."""
    _limit("reset", email_key(body["email"]))
    accounts.request_reset(load_input(RESET_REQUEST, body)["email"], settings=current_settings())
    return json_response({"detail": "If this address belongs to an account, a reset link is on its way."}, 202)


def confirm_reset(body):
    """Set a new password with a mailed reset token."""
    values = load_input(RESET_CONFIRM, body)
    accounts.confirm_reset(values["token"], values["password"], settings=current_settings())
    return no_content()


def verify_email(body):
    """Confirm the email address with a mailed token (a claim link also takes the new password)."""
    values = load_input(VERIFY, body)
    accounts.verify_email(values["token"], values.get("password"), settings=current_settings())
    return no_content()


def change_password(body):
    """Change the caller's password; wrong guesses of the current one are limited per account."""
    principal = caller()
    _limit("password", principal.id)
    values = load_input(PASSWORD_CHANGE, body)
    accounts.change_password(principal, values["current_password"], values["new_password"])
    return no_content()


def request_email_change(body):
    """Mail a link that moves the account to a new address; the answer does not tell whether it is taken."""
    principal = caller()
    _limit("email", principal.id, new_address=email_key(body["email"]))
    accounts.request_email_change(principal, load_input(EMAIL_CHANGE, body)["email"], settings=current_settings())
    return json_response({"detail": EMAIL_CHANGE_ACCEPTED}, 202)


def confirm_email_change(body):
    """Move the account to the address the mailed token was sent to."""
    accounts.confirm_email_change(body["token"])
    return no_content()


def me():
    """Who the caller is."""
    user, customer = accounts.me(caller())
    return json_response(me_representation(user, customer))
